//! JetStream stream names, subjects, consumer names and buckets.

use crate::envelope::{Envelope, EventType};
use crate::ids::TenantId;

/// Raw mail, one event per accepted copy: `mail.raw.<tenant>`.
pub const STREAM_RAW: &str = "MAIL_RAW";
/// Small events (dispositions; later reclassifications, remediation, policy):
/// `mail.<kind>.<tenant>`.
pub const STREAM_EVENTS: &str = "MAIL_EVENTS";

pub const RAW_SUBJECTS: &str = "mail.raw.>";
/// MAIL_EVENTS's subjects. Listed one by one: `mail.>` would overlap MAIL_RAW.
pub const EVENT_SUBJECTS: [&str; 5] =
    ["mail.disposition.>", "mail.deadletter.>", "mail.reclassification.>", "mail.remediation.>", "mail.policy.>"];

/// Training examples and their withdrawals: `mail.training.<scope>`. Kept apart from
/// MAIL_EVENTS so the scorers' learners read only what teaches them.
pub const STREAM_TRAINING: &str = "MAIL_TRAINING";
pub const TRAINING_SUBJECTS: &str = "mail.training.>";
/// MAIL_TRAINING's settings, the same wherever it is created (the scorers, `scorer
/// train`, and the projector, which may publish before any scorer ran): file storage,
/// limits retention, and these.
pub const TRAINING_DESCRIPTION: &str = "Postern: labelled messages the scorers learn from";
/// A training example carries its whole message.
pub const TRAINING_MAX_MESSAGE_BYTES: i32 = 8 * 1024 * 1024;
/// The training scope every tenant's classifier adds to its own.
pub const TRAINING_SHARED_SCOPE: &str = "_shared";

/// Scored messages' text fingerprints ([`crate::fingerprint`]), `mail.fingerprint.<tenant>`:
/// the scorers' shared memory of snowshoe campaigns, kept for the memory's window.
pub const STREAM_FINGERPRINTS: &str = "MAIL_FINGERPRINTS";
pub const FINGERPRINT_SUBJECTS: &str = "mail.fingerprint.>";
pub const FINGERPRINTS_DESCRIPTION: &str = "Postern: scored messages' text fingerprints (snowshoe campaigns)";
/// A fingerprint is 32 numbers and a domain name.
pub const FINGERPRINT_MAX_MESSAGE_BYTES: i32 = 4096;

/// Where the scorer publishes a tenant's fingerprints.
pub fn fingerprint_subject(tenant: &TenantId) -> String {
    format!("mail.fingerprint.{tenant}")
}

/// Object Store bucket of message bodies above ingest's inline limit; object names are
/// `<tenant>/<content digest>`.
pub const BUCKET_RAW_BODIES: &str = "MAIL_RAW_BODIES";

/// The durable pull consumer every scorer process shares.
pub const CONSUMER_SCORER: &str = "scorer";

/// KV bucket of per-tenant scoring policies (JSON), key = tenant: written by `scorer policy
/// set`, watched by every scorer, read by the projector's reclassification API.
pub const BUCKET_POLICIES: &str = "POSTERN_POLICIES";

/// Reclassification requests and decisions (on MAIL_EVENTS).
pub const RECLASSIFICATION_SUBJECTS: &str = "mail.reclassification.>";
/// The projector's durable pull consumer of reclassification decisions, from which it
/// derives their training labels and remediation requests (`-<i>-of-<n>` per shard).
pub const CONSUMER_REACTOR: &str = "projector-reactor";

/// Remediation requests and outcomes (on MAIL_EVENTS).
pub const REMEDIATION_SUBJECTS: &str = "mail.remediation.>";
/// The durable pull consumer every remediator process shares.
pub const CONSUMER_REMEDIATOR: &str = "remediator";
/// KV bucket of remediations carried out, key = request and mailbox: a redelivered request
/// moves no copy twice.
pub const BUCKET_REMEDIATIONS: &str = "POSTERN_REMEDIATIONS";

/// Header carrying the event id, for JetStream's duplicate window.
pub const HEADER_MSG_ID: &str = "Nats-Msg-Id";
/// Header on dead letters naming the reason.
pub const HEADER_DEAD_LETTER_REASON: &str = "Postern-Dead-Letter-Reason";
/// Header on dead letters naming the original stream and sequence.
pub const HEADER_DEAD_LETTER_SOURCE: &str = "Postern-Dead-Letter-Source";

/// The subject an event of this type for this tenant is published on:
/// `mail.<kind>.<tenant>`.
pub fn subject_for(event_type: EventType, tenant: &TenantId) -> String {
    format!("mail.{}.{tenant}", kind_of(event_type))
}

/// The `<kind>` token of an event type's subjects.
fn kind_of(event_type: EventType) -> &'static str {
    match event_type {
        EventType::RawMailReceived | EventType::UserSubmissionReceived => "raw",
        EventType::DispositionAssigned => "disposition",
        EventType::MessageLabelled | EventType::LabelWithdrawn => "training",
        EventType::ReclassificationSubmitted | EventType::ReclassificationResolved => "reclassification",
        EventType::RemediationRequested | EventType::RemediationCompleted => "remediation",
        EventType::PolicyChanged => "policy",
    }
}

/// An event on a subject other than the one its type and tenant give: a tenant's wall would
/// be crossed (a publisher allowed on `mail.disposition.default` writing into acme's views),
/// so every consumer dead-letters it instead of acting on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {event_type} of tenant {tenant} published on {subject} (it belongs on {expected}): not acted on")]
pub struct SubjectMismatch {
    pub subject: String,
    pub expected: String,
    pub event_type: &'static str,
    pub tenant: String,
}

/// Whether `subject` is the one the event's type and tenant give ([`subject_for`]): the
/// tenant of an event is the one its subject names, and an envelope naming another is
/// refused.
/// Every consumer asks this of every event, so the match allocates nothing.
pub fn check_subject(subject: &str, envelope: &Envelope) -> Result<(), SubjectMismatch> {
    let matches = subject
        .strip_prefix("mail.")
        .and_then(|rest| rest.strip_prefix(kind_of(envelope.event_type)))
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|tenant| tenant == envelope.tenant.as_str());
    if matches {
        return Ok(());
    }
    Err(SubjectMismatch {
        subject: subject.to_owned(),
        expected: subject_for(envelope.event_type, &envelope.tenant),
        event_type: envelope.event_type.name(),
        tenant: envelope.tenant.to_string(),
    })
}

/// The tenant (or training scope) a `mail.<kind>.<tenant>` subject names, when it is one.
pub fn tenant_of(subject: &str) -> Option<TenantId> {
    let mut tokens = subject.split('.');
    match (tokens.next(), tokens.next(), tokens.next(), tokens.next()) {
        (Some("mail"), Some(_), Some(tenant), None) => TenantId::new(tenant).ok(),
        _ => None,
    }
}

/// Where a consumer puts an input it cannot process (after max deliveries or when the
/// input cannot be decoded). `tenant` is `unknown` when the input could not be read.
pub fn dead_letter_subject(tenant: Option<&TenantId>) -> String {
    match tenant {
        Some(t) => format!("{DEAD_LETTER_PREFIX}{t}"),
        None => format!("{DEAD_LETTER_PREFIX}unknown"),
    }
}

const DEAD_LETTER_PREFIX: &str = "mail.deadletter.";

/// Dead letters are copies of inputs a worker could not process: for operators, not views.
pub fn is_dead_letter(subject: &str) -> bool {
    subject.starts_with(DEAD_LETTER_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_fall_under_their_streams() {
        let t = TenantId::new("acme").unwrap();
        assert_eq!(subject_for(EventType::RawMailReceived, &t), "mail.raw.acme");
        assert_eq!(subject_for(EventType::DispositionAssigned, &t), "mail.disposition.acme");
        assert_eq!(dead_letter_subject(Some(&t)), "mail.deadletter.acme");
        assert!(EVENT_SUBJECTS.contains(&"mail.deadletter.>"));
        assert!(is_dead_letter("mail.deadletter.acme"));
        assert!(!is_dead_letter("mail.disposition.acme"));
    }

    #[test]
    fn an_event_belongs_on_the_subject_of_its_type_and_tenant() {
        let acme = TenantId::new("acme").unwrap();
        let envelope = Envelope {
            event_id: ulid::Ulid::from_parts(1, 1),
            event_type: EventType::DispositionAssigned,
            schema: 1,
            tenant: acme.clone(),
            postern_id: crate::PosternId::from_message_id(&acme, "<a@example.com>"),
            causation_id: None,
            occurred_at: crate::Timestamp(1),
            producer: "test".into(),
        };
        assert_eq!(check_subject("mail.disposition.acme", &envelope), Ok(()));
        let crossed = check_subject("mail.disposition.default", &envelope).unwrap_err();
        assert_eq!(
            crossed.to_string(),
            "a DispositionAssigned of tenant acme published on mail.disposition.default (it belongs on \
             mail.disposition.acme): not acted on"
        );
        assert!(check_subject("mail.raw.acme", &envelope).is_err(), "the type's subject, too");
        assert_eq!(tenant_of("mail.raw.acme"), Some(acme));
        assert_eq!(tenant_of("mail.raw.Not-A-Tenant"), None);
        assert_eq!(tenant_of("mail.raw.acme.more"), None);
        assert_eq!(tenant_of("other.raw.acme"), None);
    }
}
