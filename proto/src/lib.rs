//! Postern's shared vocabulary: the event envelope and event kinds, their versioned
//! binary encoding, identifiers, stream and subject names, and tracing field names.
//!
//! This crate depends on no other crate of ours; `ingest`, `scorer` and `projector`
//! talk to each other only through the events defined here.

pub mod cluster;
pub mod codec;
#[cfg(feature = "nats")]
pub mod connect;
pub mod envelope;
pub mod error;
pub mod event;
pub mod field;
pub mod fingerprint;
pub mod ids;
pub mod net;
pub mod policy;
#[cfg(feature = "nats")]
pub mod publish;
#[cfg(feature = "nats")]
pub mod streams;
pub mod subject;
pub mod time;

pub use codec::{decode, encode};
pub use envelope::{Envelope, EventType};
pub use error::DecodeError;
pub use event::{
    Attribute, DecidedRemediation, Detection, Disposition, DispositionAssigned, Event, HeaderSummary, JournalFormat,
    LabelWithdrawn, MailBody, MessageLabelled, PolicyChanged, RawMailReceived, ReclassificationOutcome,
    ReclassificationResolved, ReclassificationSubmitted, RemediationAction, RemediationCompleted, RemediationOutcome,
    RemediationRequested, ReportedMessage, SubmissionType, SubmittedAs, TrainingLabel, UserSubmissionReceived,
};
pub use ids::{PosternId, TenantId};
pub use time::Timestamp;
