//! Column families: each module names its family and codes its keys and values.
//!
//! Conventions: integers big-endian; strings normalised and ended by 0x00; values are a
//! version byte then postcard.

pub mod client_addrs;
pub mod daily;
pub mod mail_submissions;
pub mod messages;
pub mod meta;
pub mod policy_changes;
pub mod releases;
pub mod search;

use crate::error::StoreError;
use serde::{Serialize, de::DeserializeOwned};

/// Encodes a value: version byte, then postcard.
pub fn encode_value<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    // Our value types serialise infallibly into a Vec.
    postcard::to_extend(value, vec![version]).expect("postcard value encoding")
}

/// Decodes a value written by [`encode_value`] with `version`.
pub fn decode_value<T: DeserializeOwned>(cf: &'static str, version: u8, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&v, body)) if v == version => {
            postcard::from_bytes(body).map_err(|e| StoreError::Corrupt { cf, reason: e.to_string() })
        }
        Some((&v, _)) => Err(StoreError::Corrupt { cf, reason: format!("value version {v}, expected {version}") }),
        None => Err(StoreError::Corrupt { cf, reason: "empty value".into() }),
    }
}

/// Appends a string field: its bytes then 0x00 (NULs inside are dropped so the
/// terminator stays unique).
/// `tenant 0x00`: the start of a row of a tenant's trail.
pub fn tenant_prefix(tenant: &str) -> Vec<u8> {
    let mut k = Vec::new();
    push_str(&mut k, tenant);
    k
}

/// `tenant 0x00 occurred_at(u64 BE) event_id(16)`: a row of a tenant's trail, in time order.
pub fn tenant_time_key(tenant: &str, at: u64, event_id: [u8; 16]) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(&event_id);
    k
}

pub fn push_str(key: &mut Vec<u8>, s: &str) {
    key.extend(s.bytes().filter(|&b| b != 0));
    key.push(0);
}
