//! The HTTP port (`http-port`, off by default; `http-bind`): Prometheus metrics, health
//! checks, the cluster's topology and a REST API over the keyspace.
//!
//! ```text
//! GET    /metrics       Prometheus text format (metrics.rs), computed at scrape time
//! GET    /health        live: 200 while the process serves
//! GET    /ready         200 once loaded, not LOADING, and (cluster mode) cluster_state:ok; else 503
//! GET    /nodes         the cluster's nodes and slots as JSON (api.rs)
//! GET    /cache/{key}   the value (404 if missing)        ┐ through commands::execute, as a
//! PUT    /cache/{key}   SET key <body> [EX ttl]           │ RESP client's GET / SET / DEL:
//! DELETE /cache/{key}   DEL key (404 if it did not exist) ┘ auth, MOVED, AOF, replicas alike
//! ```
//!
//! The server runs on the same tokio runtime as the RESP listeners; handlers do what a RESP
//! connection does on a worker (one command at a time) and the metrics scrape, which walks
//! every shard, runs on the blocking pool. The API's contract is docs/openapi.json.

mod api;
pub mod metrics;

use crate::server::Shared;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Binds `http-bind`:`http-port`, or returns None when `http-port` is 0 (the default).
pub async fn bind(shared: &Shared) -> std::io::Result<Option<TcpListener>> {
    let (bind, port) = {
        let c = shared.config.read();
        (c.http_bind.clone(), c.http_port)
    };
    if port == 0 {
        return Ok(None);
    }
    let addr = if bind.contains(':') { format!("[{bind}]:{port}") } else { format!("{bind}:{port}") };
    match TcpListener::bind(&addr).await {
        Ok(l) => Ok(Some(l)),
        Err(e) => Err(std::io::Error::new(e.kind(), format!("Could not create the HTTP listening socket {addr}: {e}"))),
    }
}

/// Serves the HTTP port until the server shuts down.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!("HTTP server (metrics, health, REST API) listening on {addr}");
    let stop = shared.shutdown.clone();
    let app = router(shared);
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::warn!("HTTP server stopped: {e}");
    }
}

/// Bytes that the bodies of PUTs being read or run may hold together: each waits for its
/// share (its declared length, else proto-max-bulk-len, at most all of it) before reading, so
/// many large uploads at once queue instead of growing memory without bound.
const BODY_BUDGET: u32 = 1 << 30;

/// What the handlers share: the server, and the budget of [`BODY_BUDGET`] bytes.
#[derive(Clone)]
struct HttpState {
    shared: Arc<Shared>,
    bodies: api::BodyBudget,
}

impl axum::extract::FromRef<HttpState> for Arc<Shared> {
    fn from_ref(state: &HttpState) -> Arc<Shared> {
        state.shared.clone()
    }
}

impl axum::extract::FromRef<HttpState> for api::BodyBudget {
    fn from_ref(state: &HttpState) -> api::BodyBudget {
        state.bodies.clone()
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let bodies = api::BodyBudget(Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET as usize)));
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/health", get(api::health))
        .route("/ready", get(api::ready))
        .route("/nodes", get(api::nodes))
        .route("/cache/{key}", get(api::get_key).put(api::put_key).delete(api::delete_key))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "method not allowed on this endpoint")
        })
        .with_state(HttpState { shared, bodies })
}

/// `GET /metrics`: the exposition format, rendered off the async workers (it walks the shards).
async fn metrics_handler(axum::extract::State(shared): axum::extract::State<Arc<Shared>>) -> Response {
    match tokio::task::spawn_blocking(move || metrics::render(&shared)).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", &format!("metrics failed: {e}")),
    }
}

/// Every error the HTTP port answers: `{"error": CODE, "message": text}`, CODE being the
/// Redis error's first word where the error came from a command (`WRONGTYPE`, `NOAUTH`, …).
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
