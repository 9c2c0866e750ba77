//! Serving an axum router over HTTP/1.1 so that every answer is JSON, the server's own too.
//!
//! hyper answers a request it cannot parse itself, before any router sees it, with an empty
//! body: a target with a character that must be percent-encoded (`<`, `"`, a space), a target
//! over 64 KiB (414), a head over hyper's buffer or with more than 100 header lines (431), a
//! bad `Content-Length`. [`serve`] runs one request per connection (keep-alive off) and
//! watches what hyper writes: an answer on a connection whose request never reached the
//! router is hyper's own, and is replaced by a JSON one with the same status, in the shape
//! the routers answer errors with (`{"error": {"code", "message"}}`).
//!
//! One request per connection costs a TCP handshake per request; on the loopback and LAN
//! where the API and the ops endpoints are served, that is tens of microseconds.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a client may take to send a request's head before the connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in
/// progress finish. Handlers can take the peer's address with
/// `ConnectInfo<SocketAddr>`, as with axum's `into_make_service_with_connect_info`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()> + Send + 'static) {
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let stopping = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.cancel();
    });
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin; a
                    // connection the peer abandoned before accept is not worth a pause.
                    if !matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) {
                        tracing::warn!(error = %e, "accepting an HTTP connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        connections.spawn(serve_connection(stream, peer, router.clone(), stop.clone()));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, router: Router, stop: CancellationToken) {
    let routed = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(JsonServerErrors::new(stream, routed.clone()));
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        routed.store(true, Ordering::Release);
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(false).timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = outcome {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

/// The JSON answer that replaces hyper's own answer with `status`.
fn json_answer(status: u16) -> Vec<u8> {
    let (code, message) = match status {
        400 => (
            "bad_request",
            "the request is not valid HTTP/1.1: a character the request target may not hold \
             unencoded (such as a space, < > \" { } | \\ ^ or `) must be percent-encoded, and \
             header lines must be well formed, with one valid Content-Length",
        ),
        414 => ("uri_too_long", "the request target is longer than 65,534 bytes"),
        431 => (
            "request_header_fields_too_large",
            "the request's head is too large: more than 100 header lines or about 400 KB",
        ),
        _ => ("bad_request", "the request could not be read"),
    };
    let reason = axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The status of an HTTP/1.x answer's first bytes (`HTTP/1.1 400 ...`).
fn status_of(head: &[u8]) -> Option<u16> {
    let digits = head.strip_prefix(b"HTTP/1.")?.get(2..5)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A connection's stream that swaps hyper's own answer (written before any request reached
/// the router) for [`json_answer`]; everything else passes through unchanged.
struct JsonServerErrors<S> {
    inner: S,
    routed: Arc<AtomicBool>,
    /// The answer written in place of hyper's, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> JsonServerErrors<S> {
    fn new(inner: S, routed: Arc<AtomicBool>) -> Self {
        JsonServerErrors { inner, routed, replacement: None }
    }
}

impl<S: AsyncWrite + Unpin> JsonServerErrors<S> {
    /// Writes what is left of the replacement; ready once all of it is written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((answer, written)) = &mut self.replacement {
            while *written < answer.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonServerErrors<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonServerErrors<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacement.is_none() && !buf.is_empty() && !this.routed.load(Ordering::Acquire) {
            let status = status_of(buf).unwrap_or(400);
            tracing::debug!(status, "request refused before routing (not valid HTTP/1.1): answering in JSON");
            this.replacement = Some((json_answer(status), 0));
        }
        if this.replacement.is_some() {
            // hyper's own bytes are dropped: the replacement says the same in JSON.
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_of_an_answer() {
        assert_eq!(status_of(b"HTTP/1.1 414 URI Too Long\r\n"), Some(414));
        assert_eq!(status_of(b"HTTP/1.0 400 Bad Request\r\n"), Some(400));
        assert_eq!(status_of(b"HTTP/1.1 4"), None);
        assert_eq!(status_of(b"garbage"), None);
    }

    #[test]
    fn the_replacement_is_a_complete_json_answer() {
        let answer = String::from_utf8(json_answer(431)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "request_header_fields_too_large");
    }

    /// A real server on the loopback: a request hyper refuses gets JSON, a routed one the
    /// router's answer, and the router sees the peer's address.
    #[tokio::test]
    async fn answers_what_hyper_refuses_in_json() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let router = Router::new().route(
            "/who",
            axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));
        async fn ask(addr: SocketAddr, request: &[u8]) -> String {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(request).await.unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        }
        let routed = ask(addr, b"GET /who HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(routed.starts_with("HTTP/1.1 200"), "{routed}");
        assert!(routed.ends_with("127.0.0.1"), "{routed}");
        let bad = ask(addr, b"GET /who?q=<x> HTTP/1.1\r\nhost: x\r\n\r\n").await;
        assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
        assert!(bad.contains("\"code\":\"bad_request\""), "{bad}");
        let long = format!("GET /who?q={} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
        let too_long = ask(addr, long.as_bytes()).await;
        assert!(too_long.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{too_long}");
        assert!(too_long.contains("\"code\":\"uri_too_long\""), "{too_long}");
        let _ = stop.send(());
        server.await.unwrap();
    }
}
