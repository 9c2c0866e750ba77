//! The scorers' shared memory of snowshoe campaigns ([`crate::campaign`]): each scorer
//! publishes the fingerprint of every message it scored on `mail.fingerprint.<tenant>`
//! (MAIL_FINGERPRINTS, which keeps each one `campaign_window`), and folds every scorer's
//! fingerprints into its own memory. So each scorer finds a campaign whichever scorer saw
//! its earlier copies, and a scorer started now remembers what was scored before it
//! started. A starting scorer folds what the stream holds before it scores, for at most
//! [`CATCH_UP`] (then it scores, and catches up beside); a fingerprint that cannot be
//! published is remembered by its own scorer alone.

use crate::campaign::{CampaignMemory, Fingerprint, SHINGLES};
use crate::error::SetupError;
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use proto::fingerprint::TextFingerprint;
use proto::subject::{HEADER_MSG_ID, STREAM_FINGERPRINTS};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tracing::{info, warn};

const SUBJECT_PREFIX: &str = "mail.fingerprint.";
/// The longest a starting scorer folds fingerprints before it scores.
pub const CATCH_UP: Duration = Duration::from_secs(30);

/// Creates MAIL_FINGERPRINTS if it is missing; one with another replica count is an error,
/// one that keeps fingerprints for another time than `window` is reported (the stream's
/// setting holds: the memory keeps what it receives for `window`).
pub async fn ensure_stream(
    js: &jetstream::Context,
    replicas: usize,
    window: Duration,
) -> Result<stream::Stream, SetupError> {
    let stream = crate::ordered::ensure(js, proto::streams::fingerprints(replicas, window), replicas).await?;
    let config = &stream.cached_info().config;
    if config.max_age != window {
        warn!(
            stream_max_age_s = config.max_age.as_secs(),
            campaign_window_s = window.as_secs(),
            "{STREAM_FINGERPRINTS} exists and keeps fingerprints for another time than campaign_window"
        );
    }
    Ok(stream)
}

/// Follows MAIL_FINGERPRINTS from its oldest fingerprint into `memory`: returns once it has
/// folded what the stream held when it started (or after [`CATCH_UP`]), and leaves a task
/// that folds the rest until the connection closes.
/// `held` follows how many texts the memory holds; `refused` counts what is no fingerprint.
pub async fn follow(
    js: &jetstream::Context,
    memory: Arc<RwLock<CampaignMemory>>,
    replicas: usize,
    window: Duration,
    held: prometheus::IntGauge,
    refused: prometheus::IntCounter,
) -> Result<tokio::task::JoinHandle<()>, SetupError> {
    let mut stream = ensure_stream(js, replicas, window).await?;
    let (last, mut messages) = crate::ordered::from_start(&mut stream, STREAM_FINGERPRINTS).await?;
    let started = std::time::Instant::now();
    let mut folded = 0u64;
    while folded < last {
        let Some(left) = CATCH_UP.checked_sub(started.elapsed()) else {
            warn!(folded, last, "{STREAM_FINGERPRINTS} not caught up in {CATCH_UP:?}; scoring, and catching up beside");
            break;
        };
        match tokio::time::timeout(left, messages.next()).await {
            Ok(Some(Ok(message))) => {
                folded = message.info().map(|i| i.stream_sequence).unwrap_or(folded + 1);
                remember(&memory, &message, &held, &refused);
            }
            Ok(Some(Err(e))) => warn!(error = %e, "reading {STREAM_FINGERPRINTS}; retrying"),
            Ok(None) => return Err(SetupError::unavailable(STREAM_FINGERPRINTS, "the consumer ended")),
            Err(_) => continue,
        }
    }
    let remembered = memory.read().unwrap_or_else(PoisonError::into_inner).len();
    info!(remembered, elapsed_ms = started.elapsed().as_millis() as u64, "following {STREAM_FINGERPRINTS}");
    Ok(tokio::spawn(async move {
        while let Some(next) = messages.next().await {
            match next {
                Ok(message) => remember(&memory, &message, &held, &refused),
                Err(e) => warn!(error = %e, "reading {STREAM_FINGERPRINTS}"),
            }
        }
    }))
}

fn remember(
    memory: &RwLock<CampaignMemory>,
    message: &jetstream::Message,
    held: &prometheus::IntGauge,
    refused: &prometheus::IntCounter,
) {
    // Its Nats-Msg-Id: this scorer's own fingerprints it remembered as it scored them.
    let id = message.headers.as_ref().and_then(|h| h.get(HEADER_MSG_ID)).map(|v| v.as_str());
    if let Err(error) = fold(memory, &message.subject, id, &message.payload) {
        refused.inc();
        warn!(subject = %message.subject, %error, "not a fingerprint: skipped");
    }
    report_held(memory, held);
}

/// Sets `held` to how many texts `memory` holds.
pub fn report_held(memory: &RwLock<CampaignMemory>, held: &prometheus::IntGauge) {
    let count = memory.read().unwrap_or_else(PoisonError::into_inner).len();
    held.set(i64::try_from(count).unwrap_or(i64::MAX));
}

/// A message on MAIL_FINGERPRINTS that is not a tenant's fingerprint.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FoldError {
    #[error("not a tenant's fingerprint subject: {0}")]
    Subject(String),
    #[error(transparent)]
    Decode(#[from] proto::DecodeError),
    #[error("{0} min-hashes, not {SHINGLES}")]
    Shingles(usize),
}

/// Remembers one published fingerprint: the tenant from its subject; `id`, its Nats-Msg-Id,
/// tells one this scorer remembered as it scored it ([`CampaignMemory::observe_published`]).
pub fn fold(memory: &RwLock<CampaignMemory>, subject: &str, id: Option<&str>, payload: &[u8]) -> Result<(), FoldError> {
    let tenant = subject
        .strip_prefix(SUBJECT_PREFIX)
        .filter(|t| proto::TenantId::new(t).is_ok())
        .ok_or_else(|| FoldError::Subject(subject.to_owned()))?;
    let published = TextFingerprint::decode(payload)?;
    let min_hashes: [u32; SHINGLES] =
        published.min_hashes.as_slice().try_into().map_err(|_| FoldError::Shingles(published.min_hashes.len()))?;
    memory.write().unwrap_or_else(PoisonError::into_inner).observe_published(
        tenant,
        Fingerprint { min_hashes, sender_domain: published.sender_domain },
        crate::campaign::at_ms(published.scored_at),
        id,
    );
    Ok(())
}

/// A fingerprint JetStream did not store.
#[derive(Debug, thiserror::Error)]
#[error("fingerprint not stored in {STREAM_FINGERPRINTS}: {0}")]
pub struct PublishError(#[from] jetstream::context::PublishError);

/// Publishes a scored message's fingerprint (`id`: the Nats-Msg-Id, derived from the
/// disposition's event id, so that a redelivered message is stored once) and waits for the
/// PubAck.
pub async fn publish(
    js: &jetstream::Context,
    tenant: &proto::TenantId,
    fingerprint: &Fingerprint,
    scored_at: proto::Timestamp,
    id: &str,
) -> Result<(), PublishError> {
    let payload = TextFingerprint {
        min_hashes: fingerprint.min_hashes.to_vec(),
        sender_domain: fingerprint.sender_domain.clone(),
        scored_at,
    }
    .encode();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(HEADER_MSG_ID, id);
    let ack = js.publish_with_headers(proto::subject::fingerprint_subject(tenant), headers, payload.into()).await?;
    ack.await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_a_tenants_fingerprint_and_refuses_what_is_not_one() {
        let memory = RwLock::new(CampaignMemory::new(Duration::from_secs(86_400), 10));
        let published = TextFingerprint {
            min_hashes: (0..32).collect(),
            sender_domain: "tabletlist.example".into(),
            scored_at: proto::Timestamp(1_000),
        };
        fold(&memory, "mail.fingerprint.acme", Some("fingerprint-1"), &published.encode()).unwrap();
        let probe =
            Fingerprint { min_hashes: std::array::from_fn(|i| i as u32), sender_domain: "other.example".into() };
        let found = memory.read().unwrap().matches("acme", &probe, 2_000).expect("remembered for acme");
        assert_eq!(found.other_domains, vec!["tabletlist.example".to_owned()]);
        assert!(memory.read().unwrap().matches("globex", &probe, 2_000).is_none());
        let short = TextFingerprint { min_hashes: vec![1, 2, 3], ..published.clone() };
        assert_eq!(fold(&memory, "mail.fingerprint.acme", None, &short.encode()), Err(FoldError::Shingles(3)));
        assert!(fold(&memory, "mail.fingerprint.Not_A_Tenant!", None, &published.encode()).is_err());
        assert!(fold(&memory, "mail.fingerprint.acme", None, b"junk").is_err());
        assert_eq!(memory.read().unwrap().len(), 1);
    }
}
