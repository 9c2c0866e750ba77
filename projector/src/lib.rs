//! projector: folds MAIL_RAW and MAIL_EVENTS into RocksDB views and serves them.

pub mod api;
pub mod config;
pub mod consumer;
pub mod error;
pub mod projection;
pub mod query;
pub mod raw;
pub mod rebuild;
pub mod reclassify;
pub mod store;
pub mod view;

use crate::config::Config;
use crate::error::RunError;
use crate::projection::apply_batch;
use crate::store::Store;
use proto::subject::{STREAM_EVENTS, STREAM_RAW};
use std::future::Future;
use std::future::IntoFuture;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, info_span, warn};

/// Runs the projector until `shutdown` completes: follows both streams from the stored
/// checkpoints, folds them in batches (one synced WriteBatch each, checkpoint included),
/// serves the HTTP API. With `rebuild`, the views are deleted first and folded again from
/// sequence 1 of the retained streams.
pub async fn run(config: Config, rebuild: bool, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    if rebuild && config.db_path.exists() {
        warn!(db = %config.db_path.display(), "--rebuild: deleting the views; they are folded again from sequence 1");
        std::fs::remove_dir_all(&config.db_path)
            .map_err(|e| RunError::ViewsFolder(format!("removing {}: {e}", config.db_path.display())))?;
    }
    if let Some(parent) = config.db_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| RunError::ViewsFolder(format!("creating {}: {e}", parent.display())))?;
    }
    let store = Arc::new(Store::open(&config.db_path)?);
    let client = async_nats::ConnectOptions::new()
        .name("postern-projector")
        .retry_on_initial_connect()
        .connect(proto::cluster::server_urls(&config.nats_url))
        .await
        .map_err(|e| RunError::Nats(e.to_string()))?;
    let js = async_nats::jetstream::new(client.clone());

    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| RunError::Bind { addr: config.http_listen, source })?;
    info!(listen = %config.http_listen, db = %config.db_path.display(), "projector API listening");
    if config.tokens.is_empty() {
        warn!("no API tokens configured: the API is open to whoever reaches {}", config.http_listen);
    }

    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut receivers = Vec::new();
    for stream in [STREAM_RAW, STREAM_EVENTS] {
        let (tx, rx) = mpsc::channel::<consumer::Delivery>(consumer::FOLLOWER_BUFFER);
        let checkpoint = store.checkpoint(stream)?;
        tracker.spawn(consumer::follow(js.clone(), stream, checkpoint, None, tx, token.clone()));
        receivers.push(rx);
    }
    // MAIL_TRAINING, for the API's training events: made in the background, so that the API
    // answers while NATS or a cluster's election is not there yet.
    tracker.spawn(ensure_training_stream(js.clone(), config.replicas, token.clone()));
    let mut folder = tokio::spawn(fold_loop(store.clone(), consumer::Merge::new(receivers), config.batch_size));
    let http = tokio::spawn(
        axum::serve(
            listener,
            api::router(api::AppState {
                store: store.clone(),
                js: Some(js.clone()),
                tokens: Arc::new(config.tokens.clone()),
            }),
        )
        .with_graceful_shutdown(token.clone().cancelled_owned())
        .into_future(),
    );

    // Run until shutdown, or until folding stops by itself (a store error: exit non-zero).
    let stopped_early = tokio::select! {
        _ = shutdown => None,
        r = &mut folder => Some(r),
    };
    info!("shutting down: stopping the followers, folding what was read");
    token.cancel();
    tracker.close();
    tracker.wait().await;
    let grace = config.shutdown_grace;
    let folded = match stopped_early {
        Some(joined) => joined,
        None => tokio::time::timeout(grace, folder)
            .await
            .unwrap_or_else(|_| Ok(Err(RunError::Fold(format!("did not finish within {grace:?}"))))),
    };
    match tokio::time::timeout(grace, http).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => error!(error = %e, "HTTP server failed"),
        Ok(Err(e)) => error!(error = %e, "HTTP task failed"),
        Err(_) => warn!("HTTP requests still open after the grace period"),
    }
    store.flush()?;
    client.drain().await.ok();
    info!("projector stopped");
    folded.map_err(|e| RunError::Fold(format!("the fold task failed: {e}")))?
}

/// Creates MAIL_TRAINING (or checks it), retrying every two seconds while NATS does not
/// answer; a stream that exists with other settings is logged as an error and left alone.
async fn ensure_training_stream(js: async_nats::jetstream::Context, replicas: usize, stop: CancellationToken) {
    let mut tries = 0u32;
    loop {
        match reclassify::ensure_training_stream(&js, replicas).await {
            Ok(()) => return,
            Err(e @ error::StreamSetupError::Mismatch(_)) => {
                error!(error = %e, "MAIL_TRAINING is not as configured; reclassifications will not teach the scorers");
                return;
            }
            Err(e @ error::StreamSetupError::Nats { .. }) => {
                tries += 1;
                if tries % 15 == 1 {
                    warn!(error = %e, tries, "MAIL_TRAINING not ready, retrying");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Payload bytes that make a batch full before it has `batch_size` events: raw events
/// carry messages of up to a megabyte inline, and a batch is held in memory whole.
pub const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Folds whatever the followers send, in batches, until every follower is gone. The next
/// batch is gathered while the previous one is written.
async fn fold_loop(store: Arc<Store>, mut merge: consumer::Merge, batch_size: usize) -> Result<(), RunError> {
    let mut writing: Option<tokio::task::JoinHandle<Result<(), RunError>>> = None;
    loop {
        let next = match writing.as_mut() {
            // A write that fails is noticed at once, not when the next event comes.
            Some(previous) => tokio::select! {
                written = previous => {
                    writing = None;
                    written.map_err(|e| RunError::Fold(format!("panicked: {e}")))??;
                    continue;
                }
                next = merge.next_batch(batch_size, BATCH_BYTES) => next,
            },
            None => merge.next_batch(batch_size, BATCH_BYTES).await,
        };
        if let Some(previous) = writing.take() {
            previous.await.map_err(|e| RunError::Fold(format!("panicked: {e}")))??;
        }
        let Some(batch) = next else { return Ok(()) };
        let span = info_span!("project", events = batch.len());
        let s = store.clone();
        writing = Some(tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let stats = apply_batch(&s, &batch)?;
            tracing::debug!(
                projector_events_folded_total = stats.folded,
                projector_events_skipped_total = stats.skipped,
                projector_events_rejected_total = stats.rejected,
                "batch committed"
            );
            Ok(())
        }));
    }
}
