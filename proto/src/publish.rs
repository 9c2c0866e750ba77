//! Publishing to JetStream, one way for every service (feature `nats`): the event's id as
//! `Nats-Msg-Id` (JetStream's duplicate window drops a repeat of the same event, so a
//! retry never doubles it), the PubAck awaited (the event is stored once it returns), an
//! optional time limit, and a typed error that says whether trying again can help.

use crate::subject::{HEADER_MSG_ID, subject_for};
use crate::{Envelope, Event};
use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::{self, publish::PublishAck};
use std::time::Duration;

/// Why a publish did not end with a PubAck.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Not sent, not acknowledged, or not in time (NATS away, a cluster electing a leader,
    /// a full stream, no stream for the subject yet): publishing the same event again is
    /// safe and may succeed.
    #[error("{subject}: {reason}")]
    Unavailable { subject: String, reason: String },
    /// JetStream refused it in a way a retry cannot change (an expectation on the stream's
    /// last message that does not hold).
    #[error("{subject}: refused: {reason}")]
    Refused { subject: String, reason: String },
}

impl PublishError {
    /// Whether publishing the same event again can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PublishError::Unavailable { .. })
    }

    fn of(subject: &str, e: async_nats::jetstream::context::PublishError) -> PublishError {
        let (subject, reason) = (subject.to_owned(), e.to_string());
        match e.kind() {
            PublishErrorKind::WrongLastMessageId | PublishErrorKind::WrongLastSequence => {
                PublishError::Refused { subject, reason }
            }
            _ => PublishError::Unavailable { subject, reason },
        }
    }
}

/// The headers of an event's publish: its id as `Nats-Msg-Id`.
pub fn headers(envelope: &Envelope) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_MSG_ID, envelope.event_id.to_string().as_str());
    headers
}

/// Sends the event on its subject ([`subject_for`] its type and tenant) and returns the
/// PubAck still to be awaited, for a caller that keeps several in flight.
pub async fn send(js: &jetstream::Context, envelope: &Envelope, event: &Event) -> Result<PendingAck, PublishError> {
    let subject = subject_for(envelope.event_type, &envelope.tenant);
    send_bytes(js, subject, headers(envelope), crate::encode(envelope, event)).await
}

/// Publishes the event and waits for its PubAck, for at most `within` when given.
pub async fn publish(
    js: &jetstream::Context,
    envelope: &Envelope,
    event: &Event,
    within: Option<Duration>,
) -> Result<PublishAck, PublishError> {
    let subject = subject_for(envelope.event_type, &envelope.tenant);
    publish_bytes(js, subject, headers(envelope), crate::encode(envelope, event), within).await
}

/// Publishes an already encoded payload (a raw event, a dead letter's copy) with these
/// headers (`Nats-Msg-Id` among them) and waits for the PubAck, for at most `within`.
pub async fn publish_bytes(
    js: &jetstream::Context,
    subject: String,
    headers: HeaderMap,
    payload: Vec<u8>,
    within: Option<Duration>,
) -> Result<PublishAck, PublishError> {
    let label = subject.clone();
    let attempt = async { send_bytes(js, subject, headers, payload).await?.acknowledged().await };
    match within {
        None => attempt.await,
        Some(limit) => tokio::time::timeout(limit, attempt).await.unwrap_or_else(|_| {
            Err(PublishError::Unavailable { subject: label, reason: format!("no acknowledgement within {limit:?}") })
        }),
    }
}

async fn send_bytes(
    js: &jetstream::Context,
    subject: String,
    headers: HeaderMap,
    payload: Vec<u8>,
) -> Result<PendingAck, PublishError> {
    match js.publish_with_headers(subject.clone(), headers, payload.into()).await {
        Ok(ack) => Ok(PendingAck { subject, ack }),
        Err(e) => Err(PublishError::of(&subject, e)),
    }
}

/// A sent event's PubAck, not yet received.
#[derive(Debug)]
pub struct PendingAck {
    subject: String,
    ack: PublishAckFuture,
}

impl PendingAck {
    /// Waits for the PubAck: the event is stored when this returns Ok.
    pub async fn acknowledged(self) -> Result<PublishAck, PublishError> {
        let subject = self.subject;
        self.ack.await.map_err(|e| PublishError::of(&subject, e))
    }
}

/// A copy of an input a consumer cannot act on, with why: published on
/// `mail.deadletter.<tenant>` (the tenant its subject names, else `unknown`) with the reason
/// and the source (`STREAM/seq`) as headers, and `deadletter-STREAM-seq` as `Nats-Msg-Id`
/// so that consumers that each reject the same input store one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub stream: String,
    pub seq: u64,
    /// The subject the input was published on.
    pub subject: String,
    pub reason: String,
}

impl DeadLetter {
    /// Its subject.
    pub fn subject(&self) -> String {
        crate::subject::dead_letter_subject(crate::subject::tenant_of(&self.subject).as_ref())
    }

    /// Its headers: the id, the reason, the source.
    pub fn headers(&self) -> HeaderMap {
        use crate::subject::{HEADER_DEAD_LETTER_REASON, HEADER_DEAD_LETTER_SOURCE};
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_MSG_ID, format!("deadletter-{}-{}", self.stream, self.seq).as_str());
        headers.insert(HEADER_DEAD_LETTER_REASON, self.reason.as_str());
        headers.insert(HEADER_DEAD_LETTER_SOURCE, format!("{}/{}", self.stream, self.seq).as_str());
        headers
    }

    /// Publishes it with a copy of the input's `payload` and waits for the PubAck.
    pub async fn publish(
        &self,
        js: &jetstream::Context,
        payload: &[u8],
        within: Option<Duration>,
    ) -> Result<PublishAck, PublishError> {
        publish_bytes(js, self.subject(), self.headers(), payload.to_vec(), within).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_goes_to_its_tenant_with_its_reason_and_source() {
        let letter = DeadLetter {
            stream: "MAIL_EVENTS".into(),
            seq: 42,
            subject: "mail.disposition.acme".into(),
            reason: "undecodable".into(),
        };
        assert_eq!(letter.subject(), "mail.deadletter.acme");
        let headers = letter.headers();
        assert_eq!(headers.get(HEADER_MSG_ID).map(|v| v.as_str()), Some("deadletter-MAIL_EVENTS-42"));
        assert_eq!(headers.get(crate::subject::HEADER_DEAD_LETTER_SOURCE).map(|v| v.as_str()), Some("MAIL_EVENTS/42"));
        let stray = DeadLetter { subject: "mail.raw.Bad Tenant".into(), ..letter };
        assert_eq!(stray.subject(), "mail.deadletter.unknown");
    }
}
