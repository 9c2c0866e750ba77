//! `releases`: the audit trail of the releases asked through the API (a restore
//! RemediationRequested with who asked).
//!
//! ```text
//! tenant 0x00 occurred_at(u64 BE) event_id(16)  ->  0x01 postcard(ReleaseRow)
//! ```

use super::{decode_value, encode_value};
use crate::error::StoreError;
use serde::{Deserialize, Serialize};

pub const CF: &str = "releases";
const VALUE_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRow {
    pub at: u64,
    pub event_id: [u8; 16],
    pub postern_id: String,
    pub remediation_id: String,
    pub released_by: String,
    pub mailboxes: Vec<String>,
    pub reason: String,
}

pub fn prefix(tenant: &str) -> Vec<u8> {
    super::tenant_prefix(tenant)
}

pub fn key(tenant: &str, at: u64, event_id: [u8; 16]) -> Vec<u8> {
    super::tenant_time_key(tenant, at, event_id)
}

pub fn encode(row: &ReleaseRow) -> Vec<u8> {
    encode_value(VALUE_VERSION, row)
}

pub fn decode(bytes: &[u8]) -> Result<ReleaseRow, StoreError> {
    decode_value(CF, VALUE_VERSION, bytes)
}
