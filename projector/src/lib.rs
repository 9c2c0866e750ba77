//! projector: folds MAIL_RAW and MAIL_EVENTS into RocksDB views and serves them.

pub mod api;
pub mod audit;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod consumer;
pub mod decide;
pub mod error;
pub mod mail_submissions;
pub mod metrics;
pub mod projection;
pub mod query;
pub mod rate_limit;
pub mod raw;
pub mod reactor;
pub mod rebuild;
pub mod reclassify;
pub mod release;
pub mod shard;
pub mod store;
pub mod view;
pub mod views;

use crate::config::Config;
use crate::error::RunError;
use crate::projection::apply_batch_scoped;
use crate::store::Store;
use proto::subject::{STREAM_EVENTS, STREAM_RAW};
use std::future::Future;
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
    let store = Store::open(&config.db_path)?;
    if let Some(as_of) = store.as_of()? {
        return Err(RunError::AsOfViews { db: config.db_path.display().to_string(), as_of: proto::Timestamp(as_of) });
    }
    store.claim_shard(config.shard)?;
    let views = Arc::new(views::SharedStore::new(config.db_path.clone(), store));
    let client = proto::connect::options("projector", config.nats_access())?
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
    // MAIL_TRAINING, for the reactor's training events: made in the background, so that the API
    // answers while NATS or a cluster's election is not there yet.
    tracker.spawn(ensure_training_stream(js.clone(), config.replicas, token.clone()));
    let fold_state = Arc::new(FoldState::default());
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(metrics::ProjectorMetrics::new(&registry));
    tracker.spawn(measure_lag(js.clone(), views.clone(), metrics.clone(), token.clone()));
    // What accepted and withdrawn reclassifications cause (training labels, remediation
    // requests), derived from the decisions on a durable consumer of their own.
    let reactions = Arc::new(reactor::Reports::default());
    tracker.spawn(reactor::run(
        js.clone(),
        views.clone(),
        config.shard,
        config.replicas,
        reactions.clone(),
        token.clone(),
    ));
    // Users' submissions by mail, recorded on the messages they report.
    tracker.spawn(mail_submissions::run(js.clone(), views.clone(), token.clone()));
    let http = tokio::spawn(runtime::http::serve(
        listener,
        api::router(api::AppState {
            store: views.clone(),
            js: Some(js.clone()),
            tokens: Arc::new(config.tokens.clone()),
            limiter: Arc::new(rate_limit::RateLimiter::new(config.rate_limit_per_minute)),
            fold: fold_state.clone(),
            shard: config.shard,
            read_only: None,
            reactions,
            registry: registry.clone(),
            metrics: metrics.clone(),
            sessions: Arc::new(console::Sessions::new(config.console_secure_cookie)),
            ready: readiness(
                client.clone(),
                fold_state.clone(),
                metrics.clone(),
                config.ready_max_lag,
                config.db_path.clone(),
            ),
        }),
        token.clone().cancelled_owned(),
    ));

    // Fold until shutdown. A fold that stops on a store error (a full disk, say) leaves the
    // API up and not ready (503 on /api/v1/health, with the reason) and starts again from
    // the stored checkpoints after a pause, until a batch is written again.
    tokio::pin!(shutdown);
    let grace = config.shutdown_grace;
    let mut pause = FOLD_RETRY_FIRST;
    let mut reopen = false;
    let folded = 'fold: loop {
        let failure = 'pass: {
            // RocksDB refuses writes after a failed one until it is opened again: every pass
            // after the first follows a failure.
            if reopen && let Err(e) = views.reopen(REOPEN_WAIT).await {
                break 'pass e.to_string();
            }
            let store = views.get().map_err(|e| RunError::Fold(e.to_string()))?;
            let followers = token.child_token();
            let mut receivers = Vec::new();
            for stream in [STREAM_RAW, STREAM_EVENTS] {
                let (tx, rx) = mpsc::channel::<consumer::Delivery>(consumer::FOLLOWER_BUFFER);
                let checkpoint = store.checkpoint(stream)?;
                tracker.spawn(consumer::follow(js.clone(), stream, checkpoint, None, tx, followers.clone()));
                receivers.push(rx);
            }
            let mut folder = tokio::spawn(fold_loop(
                store.clone(),
                consumer::Merge::new(receivers),
                config.batch_size,
                config.shard,
                fold_state.clone(),
                js.clone(),
                metrics.clone(),
            ));
            let stopped = tokio::select! {
                _ = &mut shutdown => None,
                r = &mut folder => Some(r),
            };
            followers.cancel();
            match stopped {
                None => {
                    info!("shutting down: stopping the followers, folding what was read");
                    break 'fold tokio::time::timeout(grace, folder)
                        .await
                        .unwrap_or_else(|_| Ok(Err(RunError::Fold(format!("did not finish within {grace:?}")))));
                }
                Some(Ok(Err(e))) => {
                    if fold_state.is_ready() {
                        // The first failure since batches were written: a short pause first.
                        pause = FOLD_RETRY_FIRST;
                    }
                    e.to_string()
                }
                // The followers ended (the connection closed for good), or the task panicked.
                Some(other) => break 'fold other,
            }
        };
        error!(error = %failure, retry_in = ?pause, "the views are not ready; reopening them and folding again from the checkpoints");
        fold_state.set_failed(failure);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = &mut shutdown => break Ok(Ok(())),
        }
        pause = (pause * 2).min(FOLD_RETRY_MAX);
        reopen = true;
    };
    token.cancel();
    tracker.close();
    tracker.wait().await;
    match tokio::time::timeout(grace, http).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!(error = %e, "HTTP task failed"),
        Err(_) => warn!("HTTP requests still open after the grace period"),
    }
    if let Ok(store) = views.get() {
        store.flush()?;
    }
    client.drain().await.ok();
    info!("projector stopped");
    folded.map_err(|e| RunError::Fold(format!("the fold task failed: {e}")))?
}

/// How often the fold lag is measured.
const LAG_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Sets `postern_projector_fold_lag_events` every few seconds: each stream's last sequence
/// minus the views' checkpoint of it.
async fn measure_lag(
    js: async_nats::jetstream::Context,
    views: Arc<views::SharedStore>,
    metrics: Arc<metrics::ProjectorMetrics>,
    stop: CancellationToken,
) {
    loop {
        for stream in [STREAM_RAW, STREAM_EVENTS] {
            // get_stream asks for the stream's info: its state is the one to compare.
            let last = match js.get_stream(stream).await {
                Ok(s) => s.cached_info().state.last_sequence,
                Err(_) => continue,
            };
            if let Ok(store) = views.get()
                && let Ok(checkpoint) = store.checkpoint(stream)
            {
                let lag = last.saturating_sub(checkpoint);
                metrics.fold_lag.with_label_values(&[stream]).set(i64::try_from(lag).unwrap_or(i64::MAX));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(LAG_EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Ready while connected to NATS, folding (the last batch was written), no stream more
/// than `max_lag` events behind, and the views' folder writable.
fn readiness(
    client: async_nats::Client,
    fold: Arc<FoldState>,
    metrics: Arc<metrics::ProjectorMetrics>,
    max_lag: u64,
    db: std::path::PathBuf,
) -> runtime::ops::ReadyCheck {
    Arc::new(move || {
        let connected = proto::connect::require_connected(&client);
        let failure = fold.failure().map(|f| f.reason);
        let lags: Vec<(&'static str, i64)> = [STREAM_RAW, STREAM_EVENTS]
            .into_iter()
            .map(|s| (s, metrics.fold_lag.with_label_values(&[s]).get()))
            .collect();
        let probe = db.join(".postern-ready-probe");
        Box::pin(async move {
            connected?;
            if let Some(reason) = failure {
                return Err(format!("the fold stopped: {reason}"));
            }
            if let Some((stream, lag)) = lags.into_iter().find(|(_, lag)| u64::try_from(*lag).unwrap_or(0) > max_lag) {
                return Err(format!("{stream} is {lag} events ahead of the views (ready_max_lag {max_lag})"));
            }
            let writable = tokio::task::spawn_blocking(move || {
                std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe))
            })
            .await;
            match writable {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("the views' folder is not writable: {e}")),
                Err(e) => Err(format!("checking the views' folder: {e}")),
            }
        })
    })
}

/// Serves the views at `db` read-only, without folding (an audit's rebuilt `--as-of`
/// database, say), until `shutdown` completes: every answer carries the views' as-of time
/// (the `Postern-As-Of` header, and `as_of` in `/api/v1/health`); writes are refused (409
/// `read_only`). JetStream is not used: raw messages are not served either.
pub async fn serve_read_only(
    config: Config,
    db: &std::path::Path,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let store = Store::open_read_only(db)?;
    let as_of = store.as_of()?;
    let views = Arc::new(views::SharedStore::new(db.to_owned(), store));
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| RunError::Bind { addr: config.http_listen, source })?;
    info!(
        listen = %config.http_listen,
        db = %db.display(),
        as_of = %as_of.map_or_else(|| "-".to_owned(), |t| proto::Timestamp(t).to_rfc3339()),
        "projector API listening, read-only: not folding"
    );
    let registry = prometheus::Registry::new();
    let router = api::router(api::AppState {
        store: views,
        js: None,
        tokens: Arc::new(config.tokens.clone()),
        limiter: Arc::new(rate_limit::RateLimiter::new(config.rate_limit_per_minute)),
        fold: Arc::new(FoldState::default()),
        shard: config.shard,
        read_only: Some(api::ReadOnly { as_of }),
        reactions: Arc::new(reactor::Reports::default()),
        registry: registry.clone(),
        metrics: Arc::new(metrics::ProjectorMetrics::new(&registry)),
        // Nothing to follow: ready while it serves.
        ready: runtime::ops::ready_when(|| Ok(())),
        sessions: Arc::new(console::Sessions::new(config.console_secure_cookie)),
    });
    let token = CancellationToken::new();
    let server = tokio::spawn(runtime::http::serve(listener, router, token.clone().cancelled_owned()));
    shutdown.await;
    token.cancel();
    if let Err(e) = server.await {
        error!(error = %e, "HTTP task failed");
    }
    info!("projector stopped");
    Ok(())
}

/// Creates MAIL_TRAINING (or checks it), retrying every two seconds while NATS does not
/// answer; a stream that exists with other settings is logged as an error and left alone.
async fn ensure_training_stream(js: async_nats::jetstream::Context, replicas: usize, stop: CancellationToken) {
    let mut tries = 0u32;
    loop {
        match reactor::ensure_training_stream(&js, replicas).await {
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

/// Pauses before folding again after a failed write: doubling from the first to the last.
const FOLD_RETRY_FIRST: std::time::Duration = std::time::Duration::from_secs(2);
const FOLD_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a reopen waits for the API requests that still read the views.
const REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the fold is keeping the views current: what `/api/v1/health` reports.
#[derive(Debug, Default)]
pub struct FoldState {
    failed: std::sync::Mutex<Option<FoldFailure>>,
}

/// Why the fold stopped, and since when.
#[derive(Debug, Clone)]
pub struct FoldFailure {
    pub reason: String,
    pub since: proto::Timestamp,
    /// Failed attempts since the last written batch.
    pub attempts: u32,
}

impl FoldState {
    fn set_failed(&self, reason: String) {
        let mut failed = self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let attempts = failed.as_ref().map_or(0, |f| f.attempts) + 1;
        let since = failed.as_ref().map_or_else(proto::Timestamp::now, |f| f.since);
        *failed = Some(FoldFailure { reason, since, attempts });
    }

    fn set_written(&self) {
        let mut failed = self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = failed.take() {
            info!(attempts = f.attempts, "folding again: the views are ready");
        }
    }

    pub fn is_ready(&self) -> bool {
        self.failure().is_none()
    }

    /// The failure that keeps the views from being current, if any.
    pub fn failure(&self) -> Option<FoldFailure> {
        self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Files the dead letters of a committed batch.
async fn file_dead_letters(js: async_nats::jetstream::Context, letters: Vec<(proto::publish::DeadLetter, Vec<u8>)>) {
    for (letter, payload) in letters {
        match letter.publish(&js, &payload, Some(std::time::Duration::from_secs(10))).await {
            Ok(_) => {
                tracing::info!(source = %format!("{}/{}", letter.stream, letter.seq), reason = %letter.reason, "dead letter filed")
            }
            Err(e) => {
                tracing::warn!(source = %format!("{}/{}", letter.stream, letter.seq), error = %e, "dead letter not stored")
            }
        }
    }
}

/// Payload bytes that make a batch full before it has `batch_size` events: raw events
/// carry messages of up to a megabyte inline, and a batch is held in memory whole.
pub const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Folds whatever the followers send, in batches, until every follower is gone. The next
/// batch is gathered while the previous one is written. The events a batch rejects are
/// filed as dead letters once it is committed (best effort: one that cannot be stored is
/// logged; the event stays in its stream, never folded).
async fn fold_loop(
    store: Arc<Store>,
    mut merge: consumer::Merge,
    batch_size: usize,
    shard: Option<shard::Shard>,
    state: Arc<FoldState>,
    js: async_nats::jetstream::Context,
    metrics: Arc<metrics::ProjectorMetrics>,
) -> Result<(), RunError> {
    let runtime = tokio::runtime::Handle::current();
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
        let state = state.clone();
        let (js, runtime, metrics) = (js.clone(), runtime.clone(), metrics.clone());
        writing = Some(tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let timer = metrics.batch_seconds.start_timer();
            let stats = apply_batch_scoped(&s, &batch, None, shard.as_ref())?;
            timer.observe_duration();
            for stream in [STREAM_RAW, STREAM_EVENTS] {
                let n = batch.iter().filter(|e| e.stream == stream).count();
                metrics.folded.with_label_values(&[stream]).inc_by(n as u64);
            }
            state.set_written();
            if !stats.dead_letters.is_empty() {
                runtime.spawn(file_dead_letters(js, stats.dead_letters.clone()));
            }
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
