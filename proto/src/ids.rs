//! Identifiers: tenants, Postern message ids, alert ids and derived event ids.
//!
//! Every id derived from content uses FNV-1a 128, written out here so that the ids stay
//! the same across Rust releases and dependency upgrades: they are stored for years.

use crate::error::IdError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use ulid::Ulid;

/// A tenant name: 1-63 characters of `a-z 0-9 - _`. It is a NATS subject token and the
/// first field of every view key, so it must never contain `.`, `*`, `>` or a NUL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(name: &str) -> Result<Self, IdError> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok { Ok(TenantId(name.to_owned())) } else { Err(IdError::InvalidTenant(name.to_owned())) }
    }

    /// A customer's tenant, as configuration, journal patterns and the API name one: a
    /// name starting with `_` is reserved (the shared training scope `_shared`) and refused.
    pub fn customer(name: &str) -> Result<Self, IdError> {
        if name.starts_with('_') {
            return Err(IdError::ReservedTenant(name.to_owned()));
        }
        Self::new(name)
    }

    /// A reserved name (`_shared`): a scope of Postern's own, never a customer's tenant.
    pub fn is_reserved(&self) -> bool {
        self.0.starts_with('_')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Postern's own message id: 15 URL-safe characters (base62).
///
/// It is derived from the tenant and the RFC 5322 Message-ID, so every copy of one message
/// that reaches a tenant (journal bifurcation, a retried delivery) lands on the same id and
/// the views merge them. A message without a Message-ID gets an id from its raw event id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PosternId(String);

pub const POSTERN_ID_LEN: usize = 15;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl PosternId {
    /// The id of the message with this Message-ID in this tenant.
    pub fn from_message_id(tenant: &TenantId, message_id: &str) -> Self {
        let normalized = normalize_message_id(message_id);
        let mut h = Fnv128::new();
        h.write(b"postern-id/v1\0");
        h.write(tenant.as_str().as_bytes());
        h.write(b"\0");
        h.write(normalized.as_bytes());
        Self::from_hash(h.finish())
    }

    /// The id of a message that has no Message-ID: taken from its raw event's id.
    pub fn from_event_id(tenant: &TenantId, event_id: Ulid) -> Self {
        let mut h = Fnv128::new();
        h.write(b"postern-id/no-message-id/v1\0");
        h.write(tenant.as_str().as_bytes());
        h.write(b"\0");
        h.write(&event_id.to_bytes());
        Self::from_hash(h.finish())
    }

    fn from_hash(mut n: u128) -> Self {
        let mut out = [0u8; POSTERN_ID_LEN];
        for slot in out.iter_mut().rev() {
            *slot = BASE62[(n % 62) as usize];
            n /= 62;
        }
        // Every byte comes from BASE62, which is ASCII.
        PosternId(out.iter().map(|&b| b as char).collect())
    }

    /// Parses an id given by a user (CLI, API).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == POSTERN_ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(PosternId(s.to_owned()))
        } else {
            Err(IdError::InvalidPosternId(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PosternId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The form a Message-ID is compared and indexed in: without surrounding white space and
/// angle brackets, and lower-cased (RFC 5322 treats the domain part case-insensitively;
/// ids that differ only in the case of the local part are, in practice, the same message).
pub fn normalize_message_id(message_id: &str) -> String {
    let t = message_id.trim();
    let t = t.strip_prefix('<').unwrap_or(t);
    let t = t.strip_suffix('>').unwrap_or(t);
    t.trim().to_lowercase()
}

/// The alert id of a disposition: the Postern id and the scoring time, e.g.
/// `4WtWkr6nlBz9sNH-2026-08-28T15:32:35`.
pub fn alert_id(postern_id: &PosternId, scored_at: Timestamp) -> String {
    let t = scored_at.to_rfc3339_seconds();
    format!("{postern_id}-{}", t.trim_end_matches('Z'))
}

/// An event id derived from the event it answers, so that a redelivered input yields the
/// same output id and JetStream's duplicate window (and the projector) drop the repeat.
/// The ULID keeps the parent's timestamp; its random part is a hash of the parent and `salt`
/// (for a disposition, the scorer's rules version).
pub fn derive_event_id(parent: Ulid, salt: &str) -> Ulid {
    let mut h = Fnv128::new();
    h.write(b"postern-derived/v1\0");
    h.write(&parent.to_bytes());
    h.write(salt.as_bytes());
    let random = h.finish() & ((1u128 << 80) - 1);
    Ulid::from_parts(parent.timestamp_ms(), random)
}

/// FNV-1a, 128-bit.
pub struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    pub fn new() -> Self {
        Fnv128(Self::OFFSET)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    pub fn finish(&self) -> u128 {
        self.0
    }
}

impl Default for Fnv128 {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::new("default").unwrap()
    }

    #[test]
    fn tenant_names_are_restricted() {
        assert!(TenantId::new("acme-corp_2").is_ok());
        for bad in ["", "Acme", "a.b", "a*", "a>", "a b", "é", &"x".repeat(64)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn names_starting_with_an_underscore_are_postern_s_own() {
        let shared = TenantId::new(crate::subject::TRAINING_SHARED_SCOPE).unwrap();
        assert!(shared.is_reserved());
        assert_eq!(TenantId::customer("_shared"), Err(IdError::ReservedTenant("_shared".into())));
        assert!(TenantId::customer("_anything").unwrap_err().to_string().contains("reserved"));
        assert!(!TenantId::customer("acme_eu").unwrap().is_reserved());
        assert!(TenantId::customer("Acme").is_err());
    }

    #[test]
    fn postern_id_is_stable_and_normalized() {
        let a = PosternId::from_message_id(&tenant(), "<Abc@Example.COM>");
        let b = PosternId::from_message_id(&tenant(), "  abc@example.com ");
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), POSTERN_ID_LEN);
        assert!(PosternId::parse(a.as_str()).is_ok());
        // Golden value (computed independently from the FNV-1a 128 definition): ids are
        // stored for years and must never change.
        assert_eq!(a.as_str(), "QGjxQUJmwBc92bA");
        let other_tenant = PosternId::from_message_id(&TenantId::new("acme").unwrap(), "abc@example.com");
        assert_ne!(a, other_tenant);
    }

    #[test]
    fn postern_id_parse_refuses_garbage() {
        assert!(PosternId::parse("short").is_err());
        assert!(PosternId::parse("0123456789abcd!").is_err());
    }

    #[test]
    fn derived_ids_are_deterministic() {
        let parent = Ulid::from_parts(1_787_931_155_120, 42);
        let a = derive_event_id(parent, "rules-1");
        assert_eq!(a, derive_event_id(parent, "rules-1"));
        assert_ne!(a, derive_event_id(parent, "rules-2"));
        assert_eq!(a.timestamp_ms(), parent.timestamp_ms());
    }

    #[test]
    fn alert_id_has_the_documented_shape() {
        let id = PosternId::parse("4WtWkr6nlBz9sNH").unwrap();
        assert_eq!(alert_id(&id, Timestamp(1_787_931_155_120)), "4WtWkr6nlBz9sNH-2026-08-28T15:32:35");
    }
}
