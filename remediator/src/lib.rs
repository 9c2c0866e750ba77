//! remediator: carries out RemediationRequested events. One durable pull consumer
//! (`remediator`) on MAIL_EVENTS' remediation subjects, shared by every process; for each
//! mailbox of a request the adapter moves the message, and a RemediationCompleted event
//! (done, not found, failed with the reason) records it. Temporary failures are retried
//! with exponential backoff (redelivery with a delay) up to `max_attempts`; then the
//! mailbox's outcome is FAILED. A mailbox whose outcome is recorded (KV bucket
//! POSTERN_REMEDIATIONS) is never touched again, so a redelivered request never moves the
//! same copy twice.

pub mod adapter;
pub mod metrics;
pub mod tenants;

use adapter::{AdapterError, MailboxAdapter, MoveOutcome};
use async_nats::jetstream::{self, AckKind, consumer::pull, kv};
use futures::StreamExt;
use proto::subject::{BUCKET_REMEDIATIONS, CONSUMER_REMEDIATOR, REMEDIATION_SUBJECTS, STREAM_EVENTS};
use proto::{Envelope, Event, EventType, RemediationCompleted, RemediationOutcome, RemediationRequested, Timestamp};
pub use runtime::config_file::Layered;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

pub const PRODUCER: &str = concat!("remediator/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS server URL, or the nodes of a cluster separated by commas. Env: `NATS_URL`.
    #[serde(default = "default_nats_url")]
    pub nats_url: String,
    /// Where `/metrics`, `/health` and `/ready` are served (port 0: any free port, logged).
    /// Env: `POSTERN_OPS_LISTEN`.
    #[serde(default = "default_ops_listen")]
    pub ops_listen: std::net::SocketAddr,
    /// JetStream replicas of the POSTERN_REMEDIATIONS bucket when the remediator creates it:
    /// 1 on a single server, 3 in a three-node cluster. Env: `POSTERN_NATS_REPLICAS`.
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// The file holding this component's NATS nkey seed (`postern nats-keys` writes one per
    /// component); without one, no credentials are sent. The seed never appears in a log.
    /// Env: `POSTERN_NATS_NKEY_FILE`.
    #[serde(default)]
    pub nats_nkey_file: Option<std::path::PathBuf>,
    /// The CA certificates (PEM) that sign the NATS server's certificate; with one, the
    /// connection requires TLS. Env: `POSTERN_NATS_TLS_CA_FILE`.
    #[serde(default)]
    pub nats_tls_ca_file: Option<std::path::PathBuf>,
    /// Each tenant's mailbox credentials (`[tenants.<tenant>.imap]`, `.graph]` or
    /// `.gmail]`): a request of a tenant without any is FAILED for each mailbox with the
    /// reason, never carried out with another tenant's login.
    pub tenants: BTreeMap<String, tenants::TenantMailboxes>,
    /// Deliveries of one request before its remaining mailboxes are FAILED.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
    /// First retry delay; doubled on each attempt, at most `backoff_max`.
    #[serde(default = "default_backoff", with = "humantime_serde")]
    pub backoff: Duration,
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// How long JetStream waits for the answer to a delivered request before it delivers it
    /// again: the longest a request can take (every mailbox of it), and how long a request
    /// whose answer was lost (a node going down as it was sent) waits.
    #[serde(default = "default_ack_wait", with = "humantime_serde")]
    pub ack_wait: Duration,
}

fn default_ops_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9184))
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}
fn default_replicas() -> usize {
    1
}
fn default_max_attempts() -> i64 {
    8
}
fn default_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(300)
}
fn default_ack_wait() -> Duration {
    Duration::from_secs(120)
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    ConfigFile(#[from] runtime::config_file::ConfigFileError),
    #[error("config {0}")]
    Config(String),
    #[error("config {0}")]
    NatsSettings(#[from] proto::cluster::NatsSettingsError),
    #[error("JetStream: {0}")]
    Nats(String),
    #[error(transparent)]
    NatsAccess(#[from] proto::connect::AccessError),
    #[error(transparent)]
    Ops(#[from] runtime::ops::OpsError),
    #[error("config {0}")]
    Tenant(#[from] tenants::TenantConfigError),
}

impl Config {
    /// The credentials and CA of the NATS connection.
    pub fn nats_access(&self) -> proto::connect::NatsAccess<'_> {
        proto::connect::NatsAccess {
            nkey_file: self.nats_nkey_file.as_deref(),
            tls_ca_file: self.nats_tls_ca_file.as_deref(),
        }
    }
}

/// `Config::load(Some(path))`: the file, the environment (`NATS_URL`,
/// `POSTERN_NATS_REPLICAS`, `POSTERN_NATS_NKEY_FILE`,
/// `POSTERN_NATS_TLS_CA_FILE`), the checks. The file is required (`[tenants]` has no default).
impl Layered for Config {
    type Error = RunError;

    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), RunError> {
        proto::cluster::apply_nats_access_env(&mut self.nats_nkey_file, &mut self.nats_tls_ca_file, var);
        runtime::ops::apply_env(&mut self.ops_listen, var).map_err(|e| RunError::Config(e.to_string()))?;
        Ok(proto::cluster::apply_nats_env(&mut self.nats_url, &mut self.replicas, var)?)
    }

    fn validate(&mut self) -> Result<(), RunError> {
        proto::cluster::check_nats_settings(&self.nats_url, self.replicas)?;
        if self.max_attempts < 1 {
            return Err(RunError::Config("max_attempts must be at least 1".into()));
        }
        if self.ack_wait < Duration::from_secs(1) {
            return Err(RunError::Config("ack_wait must be at least 1s".into()));
        }
        if self.tenants.is_empty() {
            return Err(RunError::Config("[tenants] is empty: no tenant's mailboxes could be reached".into()));
        }
        for (tenant, mailboxes) in &self.tenants {
            proto::TenantId::customer(tenant).map_err(|e| RunError::Config(format!("[tenants.{tenant}]: {e}")))?;
            mailboxes.check(tenant)?;
        }
        Ok(())
    }
}

/// The delay before delivery `attempt` (1-based) is tried again.
pub fn backoff(config: &Config, attempt: i64) -> Duration {
    let factor = 2u32.saturating_pow(u32::try_from(attempt.saturating_sub(1)).unwrap_or(u32::MAX).min(20));
    config.backoff.saturating_mul(factor).min(config.backoff_max)
}

/// A KV key for (remediation, mailbox): KV keys allow only a few characters.
pub fn done_key(remediation_id: &str, mailbox: &str) -> String {
    let hex: String = mailbox.to_lowercase().bytes().map(|b| format!("{b:02x}")).collect();
    let id: String = remediation_id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{id}.{hex}")
}

pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    // Every tenant's credentials are read and checked before anything else: a bad one stops
    // the remediator at start with the tenant and the field, not at the first request.
    let mut adapters = BTreeMap::new();
    for (tenant, mailboxes) in &config.tenants {
        adapters.insert(tenant.clone(), mailboxes.adapter(tenant)?);
    }
    let client = proto::connect::options("remediator", config.nats_access())?
        .retry_on_initial_connect()
        .connect(proto::cluster::server_urls(&config.nats_url))
        .await
        .map_err(|e| RunError::Nats(e.to_string()))?;
    let js = jetstream::new(client.clone());
    let registry = prometheus::Registry::new();
    let metrics = metrics::RemediatorMetrics::new(&registry);
    let consuming = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ops = runtime::ops::start(config.ops_listen, registry, readiness(client.clone(), consuming.clone())).await?;
    tokio::pin!(shutdown);
    let stream = loop {
        tokio::select! {
            found = js.get_stream(STREAM_EVENTS) => match found {
                Ok(s) => break s,
                Err(e) => {
                    warn!(error = %e, "waiting for stream MAIL_EVENTS");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = &mut shutdown => return Ok(()),
        }
    };
    let done = match js.get_key_value(BUCKET_REMEDIATIONS).await {
        Ok(kv) => {
            let stream_name = format!("KV_{BUCKET_REMEDIATIONS}");
            let stream =
                js.get_stream(&stream_name).await.map_err(|e| RunError::Nats(format!("{stream_name}: {e}")))?;
            proto::cluster::check_stream_replicas(
                &stream_name,
                stream.cached_info().config.num_replicas,
                config.replicas,
            )
            .map_err(|e| RunError::Nats(e.to_string()))?;
            kv
        }
        Err(_) => {
            js.create_stream(proto::streams::kv_bucket(
                BUCKET_REMEDIATIONS,
                "Postern remediators: the outcome per (request, mailbox), so that no copy is moved twice",
                1,
                config.replicas,
            ))
            .await
            .map_err(|e| RunError::Nats(format!("KV {BUCKET_REMEDIATIONS}: {e}")))?;
            js.get_key_value(BUCKET_REMEDIATIONS)
                .await
                .map_err(|e| RunError::Nats(format!("KV {BUCKET_REMEDIATIONS}: {e}")))?
        }
    };
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            CONSUMER_REMEDIATOR,
            pull::Config {
                durable_name: Some(CONSUMER_REMEDIATOR.to_owned()),
                description: Some("Postern remediators: one shared durable pull consumer".to_owned()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: config.ack_wait,
                max_deliver: config.max_attempts + 2,
                filter_subject: REMEDIATION_SUBJECTS.to_owned(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| RunError::Nats(format!("consumer {CONSUMER_REMEDIATOR}: {e}")))?;
    let mut messages = consumer.messages().await.map_err(|e| RunError::Nats(e.to_string()))?;
    let tenants: Vec<String> = adapters.iter().map(|(t, a)| format!("{t} ({})", a.kind())).collect();
    info!(?tenants, "remediator consuming remediation requests");
    consuming.store(true, std::sync::atomic::Ordering::SeqCst);
    loop {
        let next = tokio::select! {
            m = messages.next() => m,
            _ = &mut shutdown => break,
        };
        let Some(next) = next else { break };
        let message = match next {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "reading the consumer");
                continue;
            }
        };
        let attempt = message.info().map(|i| i.delivered).unwrap_or(1);
        let rejected = match proto::decode(&message.payload) {
            Ok((envelope, _)) if let Err(crossed) = proto::subject::check_subject(&message.subject, &envelope) => {
                crossed.to_string()
            }
            Ok((envelope, Event::RemediationRequested(r))) => {
                let adapter = adapters.get(envelope.tenant.as_str());
                handle_request(&js, &done, adapter, &config, &message, attempt, &envelope, &r, &metrics).await;
                continue;
            }
            // Completions share the subjects; nothing to do.
            Ok(_) => {
                let _ = message.ack().await;
                continue;
            }
            Err(e) => format!("undecodable remediation event: {e}"),
        };
        // Nothing is moved for it: filed as a dead letter, then terminated (kept for
        // redelivery while the dead letter cannot be stored).
        warn!(reason = %rejected, "remediation event not acted on; dead-lettering it");
        let letter = proto::publish::DeadLetter {
            stream: STREAM_EVENTS.to_owned(),
            seq: message.info().map(|i| i.stream_sequence).unwrap_or(0),
            subject: message.subject.to_string(),
            reason: rejected,
        };
        match letter.publish(&js, &message.payload, Some(Duration::from_secs(10))).await {
            Ok(_) => {
                metrics.dead_letters.inc();
                let _ = message.ack_with(AckKind::Term).await;
            }
            Err(e) => {
                warn!(error = %e, "the dead letter was not stored; the event is redelivered later");
                let _ = message.ack_with(AckKind::Nak(Some(backoff(&config, attempt)))).await;
            }
        }
    }
    client.drain().await.ok();
    ops.stop().await;
    info!("remediator stopped");
    Ok(())
}

/// Ready while connected to NATS, once its consumer is open.
fn readiness(client: async_nats::Client, consuming: Arc<std::sync::atomic::AtomicBool>) -> runtime::ops::ReadyCheck {
    runtime::ops::ready_when(move || {
        proto::connect::require_connected(&client)?;
        if !consuming.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("waiting for MAIL_EVENTS and its consumer".to_owned());
        }
        Ok(())
    })
}

/// Carries out one request and acknowledges it: done, or redelivered after a backoff when a
/// mailbox failed for now or an outcome could not be recorded.
#[allow(clippy::too_many_arguments)]
async fn handle_request(
    js: &jetstream::Context,
    done: &kv::Store,
    adapter: Option<&impl MailboxAdapter>,
    config: &Config,
    message: &jetstream::Message,
    attempt: i64,
    envelope: &Envelope,
    request: &RemediationRequested,
    metrics: &metrics::RemediatorMetrics,
) {
    let last_attempt = attempt >= config.max_attempts;
    match handle(js, done, adapter, envelope, request, last_attempt, metrics).await {
        Ok(Progress::Complete) => {
            let _ = message.ack().await;
        }
        Ok(Progress::RetryLater { at_least }) => {
            // The backoff, or longer when a service said when to come back (Retry-After).
            let delay = backoff(config, attempt).max(at_least);
            info!(remediation = %request.remediation_id, attempt, ?delay, "temporary failure; retrying later");
            let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
        }
        Err(e) => {
            warn!(remediation = %request.remediation_id, error = %e, "could not record an outcome; redelivered later");
            let _ = message.ack_with(AckKind::Nak(Some(backoff(config, attempt)))).await;
        }
    }
}

/// An outcome could not be recorded: the request is redelivered later.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("publishing the outcome: {0}")]
    Publish(proto::publish::PublishError),
    /// The record of done mailboxes (KV bucket POSTERN_REMEDIATIONS) did not answer.
    #[error("the record of done mailboxes: {0}")]
    Done(Box<dyn std::error::Error + Send + Sync>),
}

/// How far a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every mailbox has an outcome.
    Complete,
    /// Some failed for now and are tried again, not before `at_least` (a service's
    /// Retry-After; zero when none said).
    RetryLater { at_least: Duration },
}

/// Works through the mailboxes of one request with its tenant's adapter (None: the
/// remediator has no credentials for the tenant, and every mailbox is FAILED with that
/// reason).
pub async fn handle(
    js: &jetstream::Context,
    done: &kv::Store,
    adapter: Option<&impl MailboxAdapter>,
    envelope: &Envelope,
    request: &RemediationRequested,
    last_attempt: bool,
    metrics: &metrics::RemediatorMetrics,
) -> Result<Progress, RecordError> {
    let mut complete = true;
    let mut at_least = Duration::ZERO;
    for mailbox in &request.mailboxes {
        let key = done_key(&request.remediation_id, mailbox);
        if done.get(&key).await.map_err(|e| RecordError::Done(Box::new(e)))?.is_some() {
            continue;
        }
        let (outcome, detail) = if request.message_id.is_empty() {
            (RemediationOutcome::Failed, "the request names no Message-ID".to_owned())
        } else if let Some(adapter) = adapter {
            match adapter.remediate(mailbox, &request.message_id, request.action).await {
                Ok(MoveOutcome::Done(detail)) => (RemediationOutcome::Done, detail),
                Ok(MoveOutcome::NotFound) => (RemediationOutcome::NotFound, "not in the inbox".to_owned()),
                Err(AdapterError::Permanent(e)) => (RemediationOutcome::Failed, e),
                Err(e @ (AdapterError::Temporary(_) | AdapterError::RetryAfter { .. })) if last_attempt => {
                    (RemediationOutcome::Failed, format!("gave up: {e}"))
                }
                Err(e @ (AdapterError::Temporary(_) | AdapterError::RetryAfter { .. })) => {
                    warn!(mailbox, error = %e, "temporary failure");
                    if let AdapterError::RetryAfter { after, .. } = e {
                        at_least = at_least.max(after);
                    }
                    complete = false;
                    continue;
                }
            }
        } else {
            let reason = format!("no mailbox credentials for tenant {} in this remediator's config", envelope.tenant);
            (RemediationOutcome::Failed, reason)
        };
        publish_outcome(js, envelope, request, mailbox, outcome, &detail).await.map_err(RecordError::Publish)?;
        done.put(&key, outcome.as_str().as_bytes().to_vec().into())
            .await
            .map_err(|e| RecordError::Done(Box::new(e)))?;
        metrics.outcomes.with_label_values(&[outcome.as_str()]).inc();
        info!(remediation = %request.remediation_id, mailbox, outcome = outcome.as_str(), detail, "remediation outcome");
    }
    Ok(if complete { Progress::Complete } else { Progress::RetryLater { at_least } })
}

async fn publish_outcome(
    js: &jetstream::Context,
    request_envelope: &Envelope,
    request: &RemediationRequested,
    mailbox: &str,
    outcome: RemediationOutcome,
    detail: &str,
) -> Result<(), proto::publish::PublishError> {
    let event = Event::RemediationCompleted(RemediationCompleted {
        remediation_id: request.remediation_id.clone(),
        mailbox: mailbox.to_owned(),
        action: request.action,
        outcome,
        detail: detail.to_owned(),
    });
    let envelope = Envelope {
        // One outcome per (request, mailbox): a repeat is dropped by the duplicate window.
        event_id: proto::ids::derive_event_id(request_envelope.event_id, &format!("remediated/{mailbox}")),
        event_type: EventType::RemediationCompleted,
        schema: EventType::RemediationCompleted.current_schema(),
        tenant: request_envelope.tenant.clone(),
        postern_id: request_envelope.postern_id.clone(),
        causation_id: Some(request_envelope.event_id),
        occurred_at: Timestamp::now(),
        producer: PRODUCER.to_owned(),
    };
    proto::publish::publish(js, &envelope, &event, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_keys_are_kv_safe() {
        let config: Config =
            toml::from_str("[tenants.acme.imap]\naddress = \"127.0.0.1:143\"\npassword = \"x\"\n").unwrap();
        assert_eq!(backoff(&config, 1), Duration::from_secs(1));
        assert_eq!(backoff(&config, 4), Duration::from_secs(8));
        assert_eq!(backoff(&config, 40), Duration::from_secs(300));
        let key = done_key("01KAR5-QB1R", "Bob@Corp.example");
        assert_eq!(key, "01KAR5QB1R.626f6240636f72702e6578616d706c65");
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    }

    #[test]
    fn the_example_file_is_valid() {
        let mut example: Config = toml::from_str(include_str!("../remediator.example.toml")).expect("example parses");
        example.validate().expect("example validates");
        assert_eq!(example.ack_wait, default_ack_wait());
        assert!(example.tenants.contains_key("default"));
    }

    #[test]
    fn each_tenant_has_its_own_credentials_and_reserved_names_are_refused() {
        let mut none: Config = toml::from_str("tenants = {}\n").unwrap();
        assert!(none.validate().unwrap_err().to_string().contains("[tenants] is empty"));
        let mut shared: Config =
            toml::from_str("[tenants._shared.imap]\naddress = \"127.0.0.1:143\"\npassword = \"x\"\n").unwrap();
        assert!(shared.validate().unwrap_err().to_string().contains("reserved"));
        assert!(toml::from_str::<Config>("[imap]\naddress = \"127.0.0.1:143\"\npassword = \"x\"\n").is_err());
    }
}
