//! The envelope every event travels in.

use crate::ids::{PosternId, TenantId};
use crate::time::Timestamp;
use std::fmt;
use ulid::Ulid;

/// The kinds of event, with the code written on the wire. Codes are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    RawMailReceived,
    DispositionAssigned,
    MessageLabelled,
    LabelWithdrawn,
    ReclassificationSubmitted,
    ReclassificationResolved,
    RemediationRequested,
    RemediationCompleted,
    PolicyChanged,
    UserSubmissionReceived,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::RawMailReceived,
        EventType::DispositionAssigned,
        EventType::MessageLabelled,
        EventType::LabelWithdrawn,
        EventType::ReclassificationSubmitted,
        EventType::ReclassificationResolved,
        EventType::RemediationRequested,
        EventType::RemediationCompleted,
        EventType::PolicyChanged,
        EventType::UserSubmissionReceived,
    ];

    pub fn code(self) -> u16 {
        match self {
            EventType::RawMailReceived => 1,
            EventType::DispositionAssigned => 2,
            EventType::MessageLabelled => 3,
            EventType::LabelWithdrawn => 4,
            EventType::ReclassificationSubmitted => 5,
            EventType::ReclassificationResolved => 6,
            EventType::RemediationRequested => 7,
            EventType::RemediationCompleted => 8,
            EventType::PolicyChanged => 9,
            EventType::UserSubmissionReceived => 10,
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The schema version this build writes.
    pub fn current_schema(self) -> u16 {
        match self {
            EventType::RawMailReceived => 1,
            EventType::DispositionAssigned => 1,
            EventType::MessageLabelled => 1,
            EventType::LabelWithdrawn => 1,
            EventType::ReclassificationSubmitted => 2,
            EventType::ReclassificationResolved => 3,
            EventType::RemediationRequested => 3,
            EventType::RemediationCompleted => 1,
            EventType::PolicyChanged => 1,
            EventType::UserSubmissionReceived => 1,
        }
    }

    /// PascalCase name, as in logs and the trace.
    pub fn name(self) -> &'static str {
        match self {
            EventType::RawMailReceived => "RawMailReceived",
            EventType::DispositionAssigned => "DispositionAssigned",
            EventType::MessageLabelled => "MessageLabelled",
            EventType::LabelWithdrawn => "LabelWithdrawn",
            EventType::ReclassificationSubmitted => "ReclassificationSubmitted",
            EventType::ReclassificationResolved => "ReclassificationResolved",
            EventType::RemediationRequested => "RemediationRequested",
            EventType::RemediationCompleted => "RemediationCompleted",
            EventType::PolicyChanged => "PolicyChanged",
            EventType::UserSubmissionReceived => "UserSubmissionReceived",
        }
    }

    /// snake_case name, as in fixture folders.
    pub fn snake_name(self) -> &'static str {
        match self {
            EventType::RawMailReceived => "raw_mail_received",
            EventType::DispositionAssigned => "disposition_assigned",
            EventType::MessageLabelled => "message_labelled",
            EventType::LabelWithdrawn => "label_withdrawn",
            EventType::ReclassificationSubmitted => "reclassification_submitted",
            EventType::ReclassificationResolved => "reclassification_resolved",
            EventType::RemediationRequested => "remediation_requested",
            EventType::RemediationCompleted => "remediation_completed",
            EventType::PolicyChanged => "policy_changed",
            EventType::UserSubmissionReceived => "user_submission_received",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What every event carries besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id, also sent as `Nats-Msg-Id` so JetStream drops a retried publish.
    pub event_id: Ulid,
    pub event_type: EventType,
    /// Schema version of the body.
    pub schema: u16,
    pub tenant: TenantId,
    /// The message this event is about (correlation id).
    pub postern_id: PosternId,
    /// The event this one answers (a disposition answers a raw event).
    pub causation_id: Option<Ulid>,
    /// When the producer says it happened; folds use this, never their own clock.
    pub occurred_at: Timestamp,
    /// Which service wrote it, e.g. `ingest/0.1.0`.
    pub producer: String,
}
