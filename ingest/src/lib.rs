//! ingest: Postern's journal SMTP receiver.
//!
//! Accepts journal copies over SMTP, turns each into a `RawMailReceived` event, publishes
//! it to the MAIL_RAW JetStream stream and answers 250 only after JetStream acknowledged
//! it (451 otherwise, so the sending MTA retries).

pub mod accept;
pub mod config;
pub mod connection;
pub mod error;
pub mod journal;
pub mod publisher;
pub mod smtp;
pub mod tenancy;
pub mod tls;

use crate::config::Config;
use crate::connection::ConnectionContext;
use crate::error::{RunError, StreamSetupError};
use crate::publisher::{JetStreamSink, ensure_bodies_bucket, ensure_raw_stream};
use crate::smtp::session::{self, SessionConfig};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

/// How long ingest waits at start for JetStream to store MAIL_RAW before it gives up.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(120);

/// Runs the receiver until `shutdown` completes, then drains: stops accepting, lets
/// transactions in DATA finish, answers idle sessions 421, waits up to `shutdown_grace`.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let client = proto::connect::options("ingest", config.nats_access())?
        .retry_on_initial_connect()
        .connect(proto::cluster::server_urls(&config.nats_url))
        .await
        .map_err(|e| RunError::Stream { stream: proto::subject::STREAM_RAW, reason: e.to_string() })?;
    let js = async_nats::jetstream::new(client.clone());

    tokio::pin!(shutdown);
    // Wait for JetStream (nats-server may still be starting, a cluster without a majority
    // or electing its leader) for up to STARTUP_PATIENCE, as the scorer does; SMTP is not
    // served meanwhile (a sender's connection is refused and it tries again later); stop
    // waiting on shutdown.
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    let bodies = loop {
        let ensured = tokio::select! {
            r = async {
                ensure_raw_stream(&js, config.inline_limit, config.duplicate_window, config.replicas).await?;
                ensure_bodies_bucket(&js, config.replicas).await
            } => r,
            _ = &mut shutdown => return Ok(()),
        };
        match ensured {
            Ok(bucket) => break bucket,
            Err(StreamSetupError::Nats(reason)) if started.elapsed() < STARTUP_PATIENCE => {
                attempt += 1;
                warn!(%reason, attempt, "MAIL_RAW not ready, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis((500 * u64::from(attempt)).min(3000))) => {}
                    _ = &mut shutdown => return Ok(()),
                }
            }
            Err(e) => return Err(RunError::Stream { stream: proto::subject::STREAM_RAW, reason: e.to_string() }),
        }
    };

    let listener =
        TcpListener::bind(config.listen).await.map_err(|source| RunError::Bind { addr: config.listen, source })?;
    info!(listen = %config.listen, "ingest listening");

    let token = CancellationToken::new();
    let ctx = Arc::new(ConnectionContext {
        session: Arc::new(SessionConfig {
            hostname: config.hostname.clone(),
            max_message_size: config.max_message_size,
            max_recipients: config.max_recipients,
            tenancy: config.tenancy()?,
            starttls: config.tls.is_some(),
        }),
        sink: JetStreamSink::new(client.clone(), bodies, config.publish_timeout),
        command_timeout: config.command_timeout,
        data_timeout: config.data_timeout,
        shutdown: token.clone(),
        tls: config.tls_acceptor()?,
        inline_limit: config.inline_limit,
        max_command_line: config.max_command_line,
    });
    let tracker = TaskTracker::new();
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let networks = config.networks()?;
    let per_ip = PerIpLimit::new(config.max_connections_per_ip);
    let mut session_seq = 0u64;

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving, back off a little.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        session_seq += 1;
        if !proto::net::any_contains(&networks, peer.ip()) {
            info!(%peer, "connection from a network that is not allowed");
            tracker.spawn(refuse(stream, session::network_not_allowed(peer.ip())));
            continue;
        }
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracker.spawn(refuse(stream, session::too_many_connections()));
            continue;
        };
        let Some(ip_slot) = per_ip.acquire(peer.ip()) else {
            tracker.spawn(refuse(stream, session::too_many_connections_from_ip()));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let span =
            info_span!("smtp_session", { proto::field::SESSION_ID } = session_seq, { proto::field::PEER } = %peer);
        tracker.spawn(
            async move {
                if let Err(e) = connection::serve(stream, peer.to_string(), ctx).await {
                    info!(error = %e, "connection ended with an error");
                }
                drop(permit);
                drop(ip_slot);
            }
            .instrument(span),
        );
    }

    drop(listener);
    info!("shutting down: no new connections; draining sessions");
    token.cancel();
    tracker.close();
    if tokio::time::timeout(config.shutdown_grace, tracker.wait()).await.is_err() {
        error!(open = tracker.len(), "shutdown grace elapsed with sessions still open; closing them");
    }
    if let Err(e) = client.drain().await {
        warn!(error = %e, "NATS drain failed");
    }
    info!("ingest stopped");
    Ok(())
}

/// Answers a connection that is not served (a 421 or 554 greeting) and closes it.
async fn refuse(mut stream: tokio::net::TcpStream, reply: session::Reply) {
    let mut out = Vec::new();
    reply.write_to(&mut out);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// Counts connections per client address.
#[derive(Clone)]
struct PerIpLimit {
    max: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

/// One connection's place in [`PerIpLimit`]; released on drop.
struct IpSlot {
    limit: PerIpLimit,
    ip: std::net::IpAddr,
}

impl PerIpLimit {
    fn new(max: usize) -> Self {
        PerIpLimit { max, open: Default::default() }
    }

    fn acquire(&self, ip: std::net::IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot { limit: self.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}
