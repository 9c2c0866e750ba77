//! `mail_submissions`: users' submissions by mail (`UserSubmissionReceived`), as folded.
//!
//! ```text
//! tenant 0x00 occurred_at(u64 BE) event_id(16)  ->  0x01 postcard(MailSubmissionRow)
//! ```

use super::{decode_value, encode_value};
use crate::error::StoreError;
use serde::{Deserialize, Serialize};

pub const CF: &str = "mail_submissions";
const VALUE_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSubmissionRow {
    pub tenant: String,
    pub at: u64,
    pub event_id: [u8; 16],
    pub submission_id: String,
    pub submitted_as: proto::SubmittedAs,
    pub submitted_by: String,
    pub submission_address: String,
    pub reported: proto::ReportedMessage,
    pub attached: bool,
    /// The submission mail's sequence in MAIL_RAW.
    pub raw_seq: u64,
}

pub fn prefix(tenant: &str) -> Vec<u8> {
    super::tenant_prefix(tenant)
}

pub fn key(tenant: &str, at: u64, event_id: [u8; 16]) -> Vec<u8> {
    super::tenant_time_key(tenant, at, event_id)
}

pub fn encode(row: &MailSubmissionRow) -> Vec<u8> {
    encode_value(VALUE_VERSION, row)
}

pub fn decode(bytes: &[u8]) -> Result<MailSubmissionRow, StoreError> {
    decode_value(CF, VALUE_VERSION, bytes)
}
