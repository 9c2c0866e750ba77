//! Errors of decoding and validating events and identifiers.

use thiserror::Error;

/// Why bytes could not be read as a Postern event. Readers never panic on bad input:
/// a consumer that meets one of these terminates the message and dead-letters it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes do not start with Postern's magic: not one of our events at all.
    #[error("not a Postern event (bad magic)")]
    BadMagic,
    /// Written by a newer Postern that uses an envelope layout this reader does not know.
    #[error("unknown envelope version {0}")]
    UnknownEnvelopeVersion(u8),
    /// The event type code is not one this reader knows (written by a newer Postern).
    #[error("unknown event type code {0}")]
    UnknownEventType(u16),
    /// The event type is known but this schema version of it is not.
    #[error("unknown schema version {schema} for event type {event_type}")]
    UnknownSchema { event_type: &'static str, schema: u16 },
    /// The bytes are truncated or malformed for the layout they claim.
    #[error("malformed {part}: {reason}")]
    Malformed { part: &'static str, reason: String },
    /// The envelope says one event type, the body another.
    #[error("envelope says {envelope} but the body is {body}")]
    TypeMismatch { envelope: &'static str, body: &'static str },
}

/// Why a string is not a valid identifier.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdError {
    /// Tenant names become NATS subject tokens and key prefixes, so they are restricted.
    #[error("invalid tenant {0:?}: use 1-63 characters of a-z, 0-9, '-' and '_'")]
    InvalidTenant(String),
    /// Names starting with `_` are Postern's own scopes (`_shared`), never a customer's.
    #[error("tenant {0:?} is reserved: names starting with '_' are Postern's own (the shared training scope)")]
    ReservedTenant(String),
    /// Postern ids are 15 characters of base62.
    #[error("invalid Postern id {0:?}: expected 15 characters of 0-9, A-Z, a-z")]
    InvalidPosternId(String),
}
