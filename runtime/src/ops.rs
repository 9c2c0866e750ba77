//! What every component answers its operators over HTTP: `/metrics` (Prometheus text format,
//! written by the `prometheus` crate from the component's registry), `/health` (the process is
//! alive and answering) and `/ready` (it can do its work now: 200, or 503 with the reason).
//!
//! ingest, the scorer and the remediator serve these on their own listener (`ops_listen`);
//! the projector adds them to its API's router.

use axum::Json;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// Environment variable that overrides a component's `ops_listen` (each process its own:
/// two scorers on one machine need two addresses).
pub const ENV_OPS_LISTEN: &str = "POSTERN_OPS_LISTEN";

/// A `POSTERN_OPS_LISTEN` value that is not an address and port.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{ENV_OPS_LISTEN}={0:?} is not an address:port")]
pub struct NotAnAddress(pub String);

/// Applies the `POSTERN_OPS_LISTEN` override (read through `var`) to `ops_listen`.
pub fn apply_env(ops_listen: &mut SocketAddr, var: &dyn Fn(&str) -> Option<String>) -> Result<(), NotAnAddress> {
    if let Some(value) = var(ENV_OPS_LISTEN) {
        *ops_listen = value.trim().parse().map_err(|_| NotAnAddress(value))?;
    }
    Ok(())
}

/// Whether a component can do its work now; the error is the reason it cannot.
pub type ReadyFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// The component's readiness check, run on each `/ready` request.
pub type ReadyCheck = Arc<dyn Fn() -> ReadyFuture + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("cannot listen on {addr} for /metrics, /health and /ready (ops_listen, env {ENV_OPS_LISTEN})")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// `/metrics`, `/health` and `/ready` for `registry` and `ready`.
pub fn routes(registry: prometheus::Registry, ready: ReadyCheck) -> Router {
    Router::new()
        .route("/metrics", get(move || metrics(registry.clone())))
        .route("/health", get(|| async { Json(serde_json::json!({ "status": "alive" })) }))
        .route("/ready", get(move || readiness(ready.clone())))
}

async fn metrics(registry: prometheus::Registry) -> Response {
    let encoder = prometheus::TextEncoder::new();
    match encoder.encode_to_string(&registry.gather()) {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": { "code": "metrics", "message": e.to_string() } })),
        )
            .into_response(),
    }
}

async fn readiness(ready: ReadyCheck) -> Response {
    match ready().await {
        Ok(()) => Json(serde_json::json!({ "ready": true })).into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "ready": false, "reason": reason })))
            .into_response(),
    }
}

/// A readiness check from a quick synchronous one (state the component keeps up to date).
pub fn ready_when(check: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> ReadyCheck {
    Arc::new(move || {
        let answer = check();
        Box::pin(async move { answer })
    })
}

/// Binds `addr` (port 0: any free port; the bound address is logged and returned).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, OpsError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| OpsError::Bind { addr, source })?;
    if let Ok(bound) = listener.local_addr() {
        tracing::info!(listen = %bound, "serving /metrics, /health and /ready");
    }
    Ok(listener)
}

/// Serves [`routes`] on `listener` until `shutdown` completes (answers in progress finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: prometheus::Registry,
    ready: ReadyCheck,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = routes(registry, ready).fallback(|| async {
        (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": { "code": "not_found", "message": "no such path: /metrics, /health and /ready are served here" } })))
    });
    crate::http::serve(listener, app, shutdown).await;
}

/// A running [`serve`] on its own task, from [`start`].
pub struct OpsServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl OpsServer {
    /// Stops it (answers in progress finish).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Binds `addr` and serves [`routes`] there until [`OpsServer::stop`].
pub async fn start(addr: SocketAddr, registry: prometheus::Registry, ready: ReadyCheck) -> Result<OpsServer, OpsError> {
    let listener = bind(addr).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(serve(listener, registry, ready, async {
        let _ = stopped.await;
    }));
    Ok(OpsServer { stop, task })
}

/// Histogram buckets for durations from a millisecond to about a minute.
pub fn seconds_buckets() -> Vec<f64> {
    vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]
}

/// Registers `metric` with `registry`.
///
/// # Panics
/// When a metric of the same name is registered twice: a programming error each component's
/// constructor would show at its first start (and in its unit tests).
pub fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &prometheus::Registry, metric: M) -> M {
    registry.register(Box::new(metric.clone())).unwrap_or_else(|e| panic!("registering a metric: {e}"));
    metric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn metrics_health_and_readiness_answer_over_http() {
        let registry = prometheus::Registry::new();
        let sent = register(
            &registry,
            prometheus::IntCounter::new("postern_test_things_total", "Things counted by the test").unwrap(),
        );
        sent.inc_by(3);
        let ready_now = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ready_now.clone();
        let check: ReadyCheck = Arc::new(move || {
            let ready = flag.load(std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { if ready { Ok(()) } else { Err("not connected to NATS".to_owned()) } })
        });
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, registry, check, async {
            let _ = stopped.await;
        }));

        let get = |path: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).await.unwrap();
            text
        };
        let metrics = get("/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(metrics.contains("postern_test_things_total 3"), "{metrics}");
        assert!(get("/health").await.contains("\"status\":\"alive\""));
        let not_ready = get("/ready").await;
        assert!(not_ready.starts_with("HTTP/1.1 503") && not_ready.contains("not connected to NATS"), "{not_ready}");
        ready_now.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(get("/ready").await.starts_with("HTTP/1.1 200"));
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_busy_address_is_an_error_naming_it() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let e = bind(addr).await.unwrap_err();
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
    }
}
