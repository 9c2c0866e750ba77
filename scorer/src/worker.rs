//! The JetStream side: the shared durable pull consumer, publishing dispositions, acks,
//! retries and dead letters. Scoring itself is in [`crate::score`].

use crate::analysis::MessageFacts;
use crate::analysis::new_domain::DomainAges;
use crate::auth::{Authenticator, Delivery, Network, TxtRecords};
use crate::config::{Config, DnsMode};
use crate::error::{Outcome, RejectKind, RunError, SetupError};
use crate::score::{ScoringPanicked, try_score};
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures::StreamExt;
use proto::publish::PublishError;
use proto::subject::{self, STREAM_EVENTS, STREAM_RAW};
use proto::{DispositionAssigned, Envelope, Event, EventType, MailBody, Timestamp, field, ids};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info, info_span, warn};

pub const PRODUCER: &str = concat!("scorer/", env!("CARGO_PKG_VERSION"));

/// How long a scorer keeps trying to store a disposition (or a remediation request) before
/// it gives the raw event back for a later delivery.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(60);

struct Worker {
    js: jetstream::Context,
    config: Config,
    auth: Authenticator,
    /// The tenant's own servers and trusted relays, skipped in the Received chain for SPF
    /// and trusted by SpamAssassin's relay analysis.
    trusted: Arc<Vec<Network>>,
    domain_ages: Option<Arc<DomainAges>>,
    /// The token classifier's models, folded from MAIL_TRAINING.
    learner: crate::learner::SharedLearner,
    /// Per-tenant policies, following the KV bucket.
    policies: crate::policy::Policies,
    /// What runs besides the checks: SpamAssassin's rules and the learned combination.
    detection: crate::config::Detection,
    metrics: Arc<crate::metrics::ScorerMetrics>,
    /// One permit per message being scored on the CPU ([`Config::scoring_threads`]).
    scoring_slots: Arc<Semaphore>,
    /// The text of the tenants' recent mail, for snowshoe campaigns ([`crate::campaign`]);
    /// none when `campaign_window` is zero.
    campaigns: Option<Arc<std::sync::RwLock<crate::campaign::CampaignMemory>>>,
}

/// Runs one scorer process until `shutdown` completes, then stops pulling, lets the
/// messages in progress finish (within `shutdown_grace`) and drains the connection.
/// Messages pulled but not started are redelivered after `ack_wait`.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let client = proto::connect::options("scorer", config.nats_access())?
        .retry_on_initial_connect()
        .connect(proto::cluster::server_urls(&config.nats_url))
        .await
        .map_err(|e| RunError::Setup(e.to_string()))?;
    let js = jetstream::new(client.clone());
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(crate::metrics::ScorerMetrics::new(&registry));
    let consuming = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ops = runtime::ops::start(config.ops_listen, registry, readiness(client.clone(), consuming.clone())).await?;
    tokio::pin!(shutdown);

    // Each start-up step against JetStream is tried again while JetStream cannot do it yet
    // (a cluster without a majority, a leader being elected), for up to STARTUP_PATIENCE;
    // a stream with other settings stops the start at once.
    let replicas = config.replicas;
    tokio::select! {
        done = until_ready("MAIL_EVENTS", || ensure_events_stream(&js, replicas)) => done?,
        _ = &mut shutdown => return Ok(()),
    }
    // Then the rules and the model (a second or so): a bad rule folder or model file stops
    // the start before anything is consumed.
    let detection = tokio::task::spawn_blocking({
        let config = config.clone();
        move || config.detection()
    })
    .await
    .map_err(|e| RunError::Setup(format!("loading the rules: {e}")))??;
    info!(
        rules_version = %detection.rules_version,
        spamassassin_rules = detection.spamassassin.as_ref().map_or(0, |r| r.len()),
        "detection loaded"
    );
    // Fold what the scorers have been taught before scoring anything.
    let learner = crate::learner::SharedLearner::default();
    let _learning = tokio::select! {
        done = until_ready("MAIL_TRAINING", || crate::learner::follow(&js, learner.clone(), replicas)) => done?,
        _ = &mut shutdown => return Ok(()),
    };
    // The scorers' shared memory of campaigns: what the stream holds folded before scoring
    // (for at most 30 s), the rest as it comes.
    let campaigns = (!config.campaign_window.is_zero()).then(|| {
        Arc::new(std::sync::RwLock::new(crate::campaign::CampaignMemory::new(
            config.campaign_window,
            config.campaign_messages,
        )))
    });
    let _campaign_feed = match &campaigns {
        Some(memory) => tokio::select! {
            done = until_ready(subject::STREAM_FINGERPRINTS, || {
                crate::campaign_feed::follow(
                    &js,
                    memory.clone(),
                    replicas,
                    config.campaign_window,
                    metrics.campaign_memory.clone(),
                    metrics.fingerprints_refused.clone(),
                )
            }) => Some(done?),
            _ = &mut shutdown => return Ok(()),
        },
        None => None,
    };
    let policies = crate::policy::Policies::default();
    let _policy_watch = tokio::select! {
        done = until_ready(subject::BUCKET_POLICIES, || crate::policy::follow(&js, policies.clone(), replicas)) => done?,
        _ = &mut shutdown => return Ok(()),
    };
    // MAIL_RAW belongs to ingest; wait for it rather than guess its settings.
    let raw_stream = loop {
        tokio::select! {
            found = js.get_stream(STREAM_RAW) => match found {
                Ok(stream) => break stream,
                Err(e) => {
                    warn!(error = %e, "waiting for stream MAIL_RAW (ingest creates it)");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = &mut shutdown => return Ok(()),
        }
    };
    let consumer_config = pull::Config {
        durable_name: Some(subject::CONSUMER_SCORER.to_owned()),
        description: Some("Postern scorers: one shared durable pull consumer".to_owned()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        filter_subject: subject::RAW_SUBJECTS.to_owned(),
        ..Default::default()
    };
    let open_consumer = || async {
        let consumer: jetstream::consumer::PullConsumer = raw_stream
            .get_or_create_consumer(subject::CONSUMER_SCORER, consumer_config.clone())
            .await
            .map_err(|e| SetupError::unavailable(format!("consumer {}", subject::CONSUMER_SCORER), e))?;
        consumer
            .stream()
            .max_messages_per_batch(config.concurrency.max(16))
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| SetupError::unavailable(format!("consumer {}", subject::CONSUMER_SCORER), e))
    };
    let mut messages = tokio::select! {
        done = until_ready("the scorers' consumer", open_consumer) => done?,
        _ = &mut shutdown => return Ok(()),
    };
    info!(concurrency = config.concurrency, scoring_threads = config.scoring_threads(), "scorer consuming MAIL_RAW");
    consuming.store(true, std::sync::atomic::Ordering::SeqCst);

    let auth = match config.dns {
        DnsMode::System => match Authenticator::system() {
            Ok(auth) => auth,
            Err(e) => {
                warn!(error = %e, "no system DNS configuration; every lookup is a temporary error");
                Authenticator::offline(TxtRecords::default())?
            }
        },
        DnsMode::Offline => {
            let records = match &config.dns_fixture {
                Some(path) => TxtRecords::load(path)?,
                None => TxtRecords::default(),
            };
            Authenticator::offline(records)?
        }
    };
    let trusted = Arc::new(config.trusted_relays().map_err(|e| RunError::Setup(e.to_string()))?);
    let domain_ages = match &config.domain_ages {
        Some(path) => Some(Arc::new(DomainAges::load(path)?)),
        None => None,
    };
    let worker = Arc::new(Worker {
        js,
        config: config.clone(),
        auth,
        trusted,
        domain_ages,
        learner,
        policies,
        detection,
        metrics,
        scoring_slots: Arc::new(Semaphore::new(config.scoring_threads())),
        campaigns,
    });
    let tracker = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(config.concurrency));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let next = tokio::select! {
            m = messages.next() => m,
            _ = &mut shutdown => break,
        };
        match next {
            Some(Ok(message)) => {
                let worker = worker.clone();
                tracker.spawn(async move {
                    worker.handle(message).await;
                    drop(permit);
                });
            }
            Some(Err(e)) => {
                // Missed heartbeats, a server restart: the stream reconnects by itself.
                warn!(error = %e, "pull error; continuing");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None => {
                error!("consumer stream ended");
                break;
            }
        }
    }
    info!(in_progress = tracker.len(), "shutting down: no new messages; finishing those in progress");
    drop(messages);
    tracker.close();
    if tokio::time::timeout(config.shutdown_grace, tracker.wait()).await.is_err() {
        warn!(left = tracker.len(), "shutdown grace elapsed; unfinished messages will be redelivered");
    }
    if let Err(e) = client.drain().await {
        warn!(error = %e, "NATS drain failed");
    }
    ops.stop().await;
    info!("scorer stopped");
    Ok(())
}

/// Ready while connected to NATS, once the shared consumer of MAIL_RAW is open (the rules,
/// the model, the training and the policies are loaded before).
fn readiness(client: async_nats::Client, consuming: Arc<std::sync::atomic::AtomicBool>) -> runtime::ops::ReadyCheck {
    runtime::ops::ready_when(move || {
        proto::connect::require_connected(&client)?;
        if !consuming.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("starting: loading detection, training and policies, or opening the consumer".to_owned());
        }
        Ok(())
    })
}

impl Worker {
    async fn handle(&self, message: jetstream::Message) {
        let (stream_seq, delivered, pending) =
            message.info().map(|i| (i.stream_sequence, i.delivered, Some(i.pending))).unwrap_or((0, 0, None));
        if let Some(pending) = pending {
            self.metrics.consumer_pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
        let decoded = proto::decode(&message.payload);
        let postern_id = decoded.as_ref().map(|(e, _)| e.postern_id.to_string()).unwrap_or_default();
        let span = info_span!(
            "score",
            { field::MESSAGE_ID } = %postern_id,
            { field::STREAM_SEQ } = stream_seq,
            { field::DELIVERED } = delivered
        );
        async {
            // The last delivery JetStream will make of a message that earlier deliveries never
            // finished (the scorer crashed or stalled on it, or could not store its result):
            // it is dead-lettered without another try, so a message that kills the process
            // cannot kill it forever, and it is not left unscored and unreported either.
            let last_try = delivered > 1 && delivered >= self.config.max_deliver;
            let outcome = match decoded {
                _ if last_try => Outcome::Reject(
                    RejectKind::NeverScored,
                    format!(
                        "delivered {delivered} times and never scored: each try crashed or stalled the scorer, or \
                     could not store its result (max_deliver {})",
                        self.config.max_deliver
                    ),
                ),
                Err(e) => Outcome::Reject(RejectKind::Undecodable, format!("undecodable raw event: {e}")),
                Ok((envelope, _)) if let Err(crossed) = subject::check_subject(&message.subject, &envelope) => {
                    Outcome::Reject(RejectKind::WrongTenant, crossed.to_string())
                }
                Ok((envelope, Event::RawMailReceived(raw))) => {
                    let scoring = self.metrics.scoring_seconds.start_timer();
                    let outcome = self.score_and_publish(&message, envelope, raw, delivered).await;
                    scoring.observe_duration();
                    outcome
                }
                // A user's report of a message (a submission mail), not a delivered copy:
                // the projector acts on it; nothing to score.
                Ok((_, Event::UserSubmissionReceived(_))) => Outcome::Ack,
                Ok((envelope, other)) => Outcome::Reject(
                    RejectKind::UnexpectedEvent,
                    format!("unexpected {} on {}", other.event_type(), envelope.tenant),
                ),
            };
            let outcome = match outcome {
                Outcome::Retry(_) if delivered >= self.config.max_deliver => {
                    Outcome::Reject(RejectKind::NeverScored, format!("failed {delivered} deliveries"))
                }
                other => other,
            };
            let ack = match &outcome {
                Outcome::Ack => message.ack().await,
                Outcome::Retry(delay) => message.ack_with(AckKind::Nak(Some(*delay))).await,
                Outcome::Reject(kind, reason) => {
                    error!(%reason, "dead-lettering raw event");
                    match self.dead_letter(&message, stream_seq, reason).await {
                        Ok(()) => {
                            self.metrics.dead_letters.with_label_values(&[kind.as_str()]).inc();
                            message.ack_with(AckKind::Term).await
                        }
                        // Keep it in the stream: a later delivery tries the dead letter again.
                        Err(e) => {
                            error!(error = %e, "dead letter not stored; leaving the event for redelivery");
                            message.ack_with(AckKind::Nak(Some(Duration::from_secs(5)))).await
                        }
                    }
                }
            };
            if let Err(e) = ack {
                // The raw event is redelivered after ack_wait; the disposition's derived id
                // makes the repeat harmless.
                warn!(error = %e, "ack failed");
            }
        }
        .instrument(span)
        .await
    }

    /// The message bytes: inside the event, or fetched from the Object Store.
    async fn body(&self, raw: &proto::RawMailReceived) -> Result<Vec<u8>, BodyUnavailable> {
        match &raw.body {
            MailBody::Inline(bytes) => Ok(bytes.clone()),
            MailBody::ObjectStore { bucket, key, .. } => {
                let unavailable = |e: &dyn std::fmt::Display| BodyUnavailable {
                    object: format!("{bucket}/{key}"),
                    reason: e.to_string(),
                };
                let store = self.js.get_object_store(bucket).await.map_err(|e| unavailable(&e))?;
                let mut object = store.get(key).await.map_err(|e| unavailable(&e))?;
                let mut bytes = Vec::new();
                object.read_to_end(&mut bytes).await.map_err(|e| unavailable(&e))?;
                Ok(bytes)
            }
        }
    }

    async fn score_and_publish(
        &self,
        message: &jetstream::Message,
        raw_envelope: Envelope,
        raw: proto::RawMailReceived,
        delivered: i64,
    ) -> Outcome {
        let bytes = match self.body(&raw).await {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "message body not available; will retry");
                return Outcome::Retry(Duration::from_secs(2));
            }
        };
        let delivery = Delivery { mail_from: raw.sender(), trusted: &self.trusted };
        let auth = self.auth.authenticate(&bytes, &delivery).await;
        let scored_at = Timestamp::now();
        // The id this message's fingerprint is published under (a redelivery publishes the
        // same, which JetStream stores once and the campaign memory counts once).
        let fingerprint_id: Arc<str> = Arc::from(format!("fingerprint-{}", raw_envelope.event_id));
        let facts = MessageFacts {
            envelope_sender: raw.sender().to_owned(),
            auth: Some(auth),
            now: scored_at,
            domain_ages: self.domain_ages.clone(),
            token_models: self
                .learner
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .models_for(raw_envelope.tenant.as_str()),
            recipients: raw.original_recipients.clone(),
            policy: self.policies.for_tenant(raw_envelope.tenant.as_str()),
            spamassassin: self.detection.spamassassin.clone(),
            combination: self.detection.combination.clone(),
            trusted_relays: self.trusted.clone(),
            campaigns: self.campaigns.as_ref().map(|memory| crate::campaign::CampaignScope {
                tenant: Arc::from(raw_envelope.tenant.as_str()),
                memory: memory.clone(),
                arrived_ms: None,
                published_as: Some(fingerprint_id.clone()),
            }),
        };
        let campaigns = facts.campaigns.clone();
        // Large messages take milliseconds of CPU: off the async threads, and no more at
        // once than the scoring threads.
        let failpoints = self.config.failpoints;
        let cpu = self.scoring_slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let scored = tokio::task::spawn_blocking(move || {
            let verdict = try_score(&bytes, &facts, failpoints);
            drop(cpu);
            verdict
        });
        let verdict = match scored.await {
            Ok(Ok(v)) => v,
            // A panic: tried again (another scorer, a later policy or model may differ), and
            // dead-lettered with the panic as the reason before the last delivery, which
            // would be dead-lettered without it.
            Ok(Err(ScoringPanicked(panic))) if delivered + 1 >= self.config.max_deliver => {
                return Outcome::Reject(
                    RejectKind::NeverScored,
                    format!("scoring panicked on {delivered} deliveries: {panic}"),
                );
            }
            Ok(Err(ScoringPanicked(panic))) => {
                error!(%panic, "scoring panicked; the message will be tried again");
                return Outcome::Retry(Duration::from_secs(1));
            }
            Err(e) => return Outcome::Reject(RejectKind::NeverScored, format!("scoring task failed: {e}")),
        };
        if verdict.detections.iter().any(|d| d.name == crate::analysis::snowshoe::SNOWSHOE_CAMPAIGN) {
            self.metrics.snowshoe_campaigns.inc();
        }
        // Remembered here as it was scored (the check did), and by every other scorer once
        // published (this scorer's memory knows its own by the id when the stream brings it
        // back), so that a later copy from another domain finds it. Stored beside the
        // disposition (at once, in this message's task, which shutdown waits for), and best
        // effort: a fingerprint not stored is remembered here alone. A retried delivery of
        // this message publishes the same id.
        let fingerprint_stored = async {
            let (Some(scope), Some(fingerprint)) = (campaigns, verdict.fingerprint.clone()) else { return };
            let published =
                crate::campaign_feed::publish(&self.js, &raw_envelope.tenant, &fingerprint, scored_at, &fingerprint_id);
            // Within the time a disposition gets, so that it never holds the ack back longer.
            match tokio::time::timeout(self.config.publish_timeout, published).await {
                Ok(Ok(())) => self.metrics.fingerprints.with_label_values(&["stored"]).inc(),
                failed => {
                    self.metrics.fingerprints.with_label_values(&["failed"]).inc();
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no acknowledgement within {:?}", self.config.publish_timeout),
                    };
                    warn!(%error, "this scorer alone remembers the fingerprint");
                    crate::campaign_feed::report_held(&scope.memory, &self.metrics.campaign_memory);
                }
            }
        };
        let envelope = Envelope {
            event_id: ids::derive_event_id(raw_envelope.event_id, &self.detection.rules_version),
            event_type: EventType::DispositionAssigned,
            schema: EventType::DispositionAssigned.current_schema(),
            tenant: raw_envelope.tenant.clone(),
            postern_id: raw_envelope.postern_id.clone(),
            causation_id: Some(raw_envelope.event_id),
            occurred_at: scored_at,
            producer: PRODUCER.to_owned(),
        };
        let disposition = verdict.disposition;
        let teach = if self.config.autolearn { crate::autolearn::label_for(&verdict) } else { None };
        let event = Event::DispositionAssigned(DispositionAssigned {
            disposition,
            attributes: verdict.attributes,
            detections: verdict.detections,
            rules_version: self.detection.rules_version.clone(),
            alert_id: ids::alert_id(&raw_envelope.postern_id, scored_at),
            postern_id: raw_envelope.postern_id.clone(),
            headers: verdict.headers,
        });
        let ((), disposition_stored) =
            tokio::join!(fingerprint_stored, self.publish_patiently(message, &envelope, &event));
        match disposition_stored {
            Ok(()) => {
                self.metrics.scored.with_label_values(&[disposition.as_str()]).inc();
                info!(%disposition, "disposition stored");
                // The tenant moves such mail at once: ask for it (its id derives from the
                // disposition's, so a redelivery asks once).
                if let Some(request) = self.auto_remediation(&envelope, &raw, disposition)
                    && let Err(e) = self.publish_patiently(message, &request.0, &request.1).await
                {
                    warn!(error = %e, "remediation request not stored; will retry");
                    return Outcome::Retry(Duration::from_secs(2));
                }
                // Spam it is sure of teaches the tenant's classifier (its id derives from the
                // disposition's too: a redelivery teaches once). Best effort: an example not
                // stored is logged and counted, and scoring goes on (the disposition is).
                if let Some(label) = teach {
                    let (lesson_envelope, lesson) =
                        crate::autolearn::lesson(&envelope, label, &raw.content_digest, raw.body.clone(), PRODUCER);
                    match self.publish_patiently(message, &lesson_envelope, &lesson).await {
                        Ok(()) => {
                            self.metrics.autolearned.with_label_values(&["stored"]).inc();
                            info!(label = label.as_str(), "autolearned");
                        }
                        Err(e) => {
                            self.metrics.autolearned.with_label_values(&["failed"]).inc();
                            warn!(error = %e, "autolearned example not stored; the disposition is, scoring goes on");
                        }
                    }
                }
                Outcome::Ack
            }
            Err(e) => {
                warn!(error = %e, "disposition not stored; will retry");
                Outcome::Retry(Duration::from_secs(2))
            }
        }
    }

    /// With `auto_remediate` in the tenant's policy and an action for this disposition: the
    /// RemediationRequested naming every recipient.
    fn auto_remediation(
        &self,
        disposition_envelope: &Envelope,
        raw: &proto::RawMailReceived,
        disposition: proto::Disposition,
    ) -> Option<(Envelope, Event)> {
        let policy = self.policies.for_tenant(disposition_envelope.tenant.as_str())?;
        if !policy.policy.auto_remediate {
            return None;
        }
        let action = policy.policy.actions.get(disposition.as_str())?.remediation()?;
        let message_id = raw.message_id.as_deref().filter(|m| !m.trim().is_empty())?;
        let event_id = ids::derive_event_id(disposition_envelope.event_id, "auto-remediation");
        let envelope = Envelope {
            event_id,
            event_type: EventType::RemediationRequested,
            schema: EventType::RemediationRequested.current_schema(),
            causation_id: Some(disposition_envelope.event_id),
            ..disposition_envelope.clone()
        };
        let event = Event::RemediationRequested(proto::RemediationRequested {
            remediation_id: event_id.to_string(),
            message_id: format!("<{}>", message_id.trim().trim_matches(['<', '>'])),
            action,
            mailboxes: raw.original_recipients.clone(),
            reason: format!("scored {} (auto_remediate)", disposition.as_str()),
            requested_by: None,
            client_addr: None,
        });
        Some((envelope, event))
    }

    /// Publishes an event ([`proto::publish`], within the configured time), tried again
    /// while JetStream cannot store (see [`patiently`]).
    async fn publish_patiently(
        &self,
        message: &jetstream::Message,
        envelope: &Envelope,
        event: &Event,
    ) -> Result<(), PublishError> {
        let within = Some(self.config.publish_timeout);
        patiently(message, || async { proto::publish::publish(&self.js, envelope, event, within).await.map(|_| ()) })
            .await
    }

    /// Copies an input that can never be scored to `mail.deadletter.<tenant>`, with the
    /// reason and its origin in headers, so an operator can inspect and replay it.
    async fn dead_letter(
        &self,
        message: &jetstream::Message,
        stream_seq: u64,
        reason: &str,
    ) -> Result<(), PublishError> {
        let letter = proto::publish::DeadLetter {
            stream: STREAM_RAW.to_owned(),
            seq: stream_seq,
            subject: message.subject.to_string(),
            reason: reason.to_owned(),
        };
        let within = Some(self.config.publish_timeout);
        patiently(message, || async { letter.publish(&self.js, &message.payload, within).await.map(|_| ()) }).await
    }
}

/// A large message's body could not be read from the Object Store (for now: the raw
/// event is retried).
#[derive(Debug, thiserror::Error)]
#[error("object {object}: {reason}")]
struct BodyUnavailable {
    object: String,
    reason: String,
}

/// Runs `attempt` again for up to [`PUBLISH_PATIENCE`] while it fails (JetStream cannot
/// store: a cluster electing a leader, a server restarting), keeping the raw event meanwhile
/// (progress acks). An outage of seconds then costs no delivery, so that deliveries run out
/// only for messages that crash or stall the scorer.
async fn patiently<F, Fut>(message: &jetstream::Message, attempt: F) -> Result<(), PublishError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), PublishError>>,
{
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        match attempt().await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && started.elapsed() + pause < PUBLISH_PATIENCE => {
                warn!(error = %e, retry_in = ?pause, "not stored yet; trying again");
                let _ = message.ack_with(AckKind::Progress).await;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How long a start-up step is tried again while JetStream cannot do it yet.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(120);

/// Runs a start-up step until it succeeds: a transient failure is logged and tried again
/// (250 ms, doubling to 5 s) for up to [`STARTUP_PATIENCE`]; a permanent one, or the last
/// transient one after that, is the error.
pub async fn until_ready<T, F, Fut>(step: &str, mut attempt: F) -> Result<T, SetupError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SetupError>>,
{
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_transient() && started.elapsed() + pause < STARTUP_PATIENCE => {
                warn!(step, error = %e, retry_in_ms = pause.as_millis() as u64, "JetStream cannot do this yet; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// MAIL_EVENTS belongs to the scorer: created on `replicas` nodes if missing, checked if
/// present.
pub async fn ensure_events_stream(js: &jetstream::Context, replicas: usize) -> Result<(), SetupError> {
    let wanted: Vec<String> = subject::EVENT_SUBJECTS.iter().map(|s| s.to_string()).collect();
    let stream = js
        .get_or_create_stream(stream::Config {
            name: STREAM_EVENTS.to_owned(),
            subjects: wanted.clone(),
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            duplicate_window: Duration::from_secs(120),
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| SetupError::unavailable(format!("stream {STREAM_EVENTS}"), e))?;
    let mut config = stream.cached_info().config.clone();
    proto::cluster::check_stream_replicas(STREAM_EVENTS, config.num_replicas, replicas)?;
    let missing: Vec<String> = wanted.iter().filter(|s| !config.subjects.contains(s)).cloned().collect();
    if !missing.is_empty() {
        // A stream made by an earlier version: the new event kinds' subjects are added.
        warn!(stream = STREAM_EVENTS, ?missing, "adding subjects to the stream");
        config.subjects.extend(missing);
        js.update_stream(config)
            .await
            .map_err(|e| SetupError::unavailable(format!("stream {STREAM_EVENTS}: adding subjects"), e))?;
    }
    Ok(())
}
