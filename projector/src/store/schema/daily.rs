//! `daily`: report counters per tenant and day.
//!
//! ```text
//! tenant 0x00 day(u32 BE, days since 1970-01-01) kind(1 byte) value 0x00  ->  u64 BE
//! ```
//! Kinds: `n` messages (value empty), `f` final disposition, `d` sender domain, `r`
//! recipient, `c` reclassification status. Counters are kept by difference: when a fold
//! changes a record, what it contributed before is taken away and what it contributes now
//! is added, so the counters always equal a recount from the records.

use super::push_str;
use crate::view::message::MessageRecord;

pub const CF: &str = "daily";

pub const MESSAGES: u8 = b'n';
pub const DISPOSITION: u8 = b'f';
pub const SENDER_DOMAIN: u8 = b'd';
pub const RECIPIENT: u8 = b'r';
pub const RECLASSIFICATION: u8 = b'c';

pub fn day_of(at_ms: u64) -> u32 {
    (at_ms / 86_400_000) as u32
}

pub fn day_prefix(tenant: &str, day: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 6);
    push_str(&mut k, tenant);
    k.extend_from_slice(&day.to_be_bytes());
    k
}

pub fn key(tenant: &str, day: u32, kind: u8, value: &str) -> Vec<u8> {
    let mut k = day_prefix(tenant, day);
    k.push(kind);
    push_str(&mut k, value);
    k
}

/// (kind, value) of a key of a day prefix of this length.
pub fn decode_tail(key: &[u8], prefix_len: usize) -> Option<(u8, String)> {
    let (&kind, rest) = key.get(prefix_len..)?.split_first()?;
    let value = rest.strip_suffix(&[0])?;
    Some((kind, String::from_utf8_lossy(value).into_owned()))
}

/// What one record adds to the counters (a key may repeat: two submissions).
pub fn contributions(record: &MessageRecord) -> Vec<Vec<u8>> {
    let (t, day) = (record.tenant.as_str(), day_of(record.received_at()));
    let mut out = vec![key(t, day, MESSAGES, "")];
    if let Some(d) = record.final_disposition() {
        out.push(key(t, day, DISPOSITION, d.as_str()));
    }
    let mut domains: Vec<String> =
        record.copies.iter().filter_map(|c| c.sender().rsplit_once('@').map(|(_, d)| d.to_lowercase())).collect();
    domains.sort();
    domains.dedup();
    for d in domains {
        out.push(key(t, day, SENDER_DOMAIN, &d));
    }
    for r in record.recipients() {
        out.push(key(t, day, RECIPIENT, &r.to_lowercase()));
    }
    for s in &record.submissions {
        out.push(key(t, day, RECLASSIFICATION, record.status_of(&s.submission_id).0.as_str()));
    }
    out
}

pub fn decode_count(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}
