//! `policy_changes`: the audit trail of each tenant's scoring policy.
//!
//! ```text
//! tenant 0x00 occurred_at(u64 BE) event_id(16)  ->  0x01 postcard(PolicyChangeRow)
//! ```

use super::{decode_value, encode_value};
use crate::error::StoreError;
use serde::{Deserialize, Serialize};

pub const CF: &str = "policy_changes";
const VALUE_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChangeRow {
    pub at: u64,
    pub event_id: [u8; 16],
    pub changed_by: String,
    pub revision: u64,
    pub policy_digest: String,
    pub summary: String,
}

pub fn prefix(tenant: &str) -> Vec<u8> {
    super::tenant_prefix(tenant)
}

pub fn key(tenant: &str, at: u64, event_id: [u8; 16]) -> Vec<u8> {
    super::tenant_time_key(tenant, at, event_id)
}

pub fn encode(row: &PolicyChangeRow) -> Vec<u8> {
    encode_value(VALUE_VERSION, row)
}

pub fn decode(bytes: &[u8]) -> Result<PolicyChangeRow, StoreError> {
    decode_value(CF, VALUE_VERSION, bytes)
}
