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
pub mod metrics;
pub mod publisher;
pub mod smtp;
pub mod submission;
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
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(metrics::IngestMetrics::new(&registry));
    let streams_ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let link = Arc::new(NatsLink::default());
    let link_watch = tokio::spawn(link.clone().watch(client.clone()));
    let ops =
        runtime::ops::start(config.ops_listen, registry, readiness(client.clone(), streams_ready.clone())).await?;

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
            Ok(bucket) => {
                streams_ready.store(true, std::sync::atomic::Ordering::SeqCst);
                break bucket;
            }
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
        metrics: metrics.clone(),
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
        metrics.sessions.inc();
        if let Some(down) = link.down_for().filter(|d| *d >= config.not_ready_after) {
            info!(%peer, down_secs = down.as_secs(), "NATS unreachable: new session answered 421");
            tracker.spawn(refuse(stream, session::not_ready(), metrics.clone()));
            continue;
        }
        if !proto::net::any_contains(&networks, peer.ip()) {
            info!(%peer, "connection from a network that is not allowed");
            tracker.spawn(refuse(stream, session::network_not_allowed(peer.ip()), metrics.clone()));
            continue;
        }
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracker.spawn(refuse(stream, session::too_many_connections(), metrics.clone()));
            continue;
        };
        let Some(ip_slot) = per_ip.acquire(peer.ip()) else {
            tracker.spawn(refuse(stream, session::too_many_connections_from_ip(), metrics.clone()));
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
    link_watch.abort();
    ops.stop().await;
    info!("ingest stopped");
    Ok(())
}

/// How long the NATS connection has been down, as last seen (checked every 100 ms).
#[derive(Default)]
struct NatsLink {
    /// Since when the connection is down; None while it is up.
    down_since: std::sync::Mutex<Option<std::time::Instant>>,
}

impl NatsLink {
    async fn watch(self: Arc<Self>, client: async_nats::Client) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let up = client.connection_state() == async_nats::connection::State::Connected;
            let mut down = self.down_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match (up, *down) {
                (true, _) => *down = None,
                (false, None) => *down = Some(std::time::Instant::now()),
                (false, Some(_)) => {}
            }
        }
    }

    fn down_for(&self) -> Option<Duration> {
        self.down_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map(|since| since.elapsed())
    }
}

/// Ready while connected to NATS, once MAIL_RAW and the bodies bucket are there.
fn readiness(
    client: async_nats::Client,
    streams_ready: Arc<std::sync::atomic::AtomicBool>,
) -> runtime::ops::ReadyCheck {
    runtime::ops::ready_when(move || {
        proto::connect::require_connected(&client)?;
        if !streams_ready.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("MAIL_RAW is not ready yet".to_owned());
        }
        Ok(())
    })
}

/// Answers a connection that is not served (a 421 or 554 greeting) and closes it.
async fn refuse(mut stream: tokio::net::TcpStream, reply: session::Reply, metrics: Arc<metrics::IngestMetrics>) {
    metrics.reply(&reply);
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
