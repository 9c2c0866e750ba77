//! `client_addrs`: where each API write came from, for the audit trail.
//!
//! ```text
//! event_id(16)  ->  0x01 postcard(String)
//! ```
//!
//! Folded from the `client_addr` of ReclassificationSubmitted (schema 2) and
//! ReclassificationResolved (schema 3): a replay writes the same rows.

use super::{decode_value, encode_value};
use crate::error::StoreError;

pub const CF: &str = "client_addrs";
const VALUE_VERSION: u8 = 1;

pub fn key(event_id: [u8; 16]) -> Vec<u8> {
    event_id.to_vec()
}

pub fn encode(addr: &str) -> Vec<u8> {
    encode_value(VALUE_VERSION, &addr)
}

pub fn decode(bytes: &[u8]) -> Result<String, StoreError> {
    decode_value(CF, VALUE_VERSION, bytes)
}
