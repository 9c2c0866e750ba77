//! `messages`: one record per message, the fold of every event about it.
//!
//! ```text
//! tenant 0x00 postern_id 0x00  ->  0x01 postcard(MessageRecord)
//! ```

use super::{decode_value, encode_value, push_str};
use crate::error::StoreError;
use crate::view::message::MessageRecord;

pub const CF: &str = "messages";
const VALUE_VERSION: u8 = 1;

pub fn key(tenant: &str, postern_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + postern_id.len() + 2);
    push_str(&mut k, tenant);
    push_str(&mut k, postern_id);
    k
}

pub fn encode(record: &MessageRecord) -> Vec<u8> {
    encode_value(VALUE_VERSION, record)
}

pub fn decode(bytes: &[u8]) -> Result<MessageRecord, StoreError> {
    decode_value(CF, VALUE_VERSION, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_tenant_then_id() {
        assert!(key("a", "zzz") < key("b", "aaa"));
        assert!(key("a", "aaa") < key("a", "aab"));
        // "a" must not be a prefix-match of tenant "ab".
        assert!(!key("ab", "x").starts_with(&key("a", "")[..2]));
    }

    #[test]
    fn values_round_trip_and_garbage_is_an_error() {
        let record = MessageRecord::new("default", "0123456789abcde");
        assert_eq!(decode(&encode(&record)).unwrap(), record);
        assert!(decode(b"").is_err());
        assert!(decode(b"\x02abc").is_err());
        let mut state = 7u64;
        for _ in 0..2000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (state >> 58) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (state >> (i % 56)) as u8).collect();
            let _ = decode(&bytes);
        }
    }
}
