//! `search`: the investigation indexes, one family, every row a key.
//!
//! ```text
//! tenant 0x00 field(1 byte) value 0x00 received_at(u64 BE) postern_id  ->  (empty)
//! ```
//! A search on one field is a reverse range scan of `tenant field value` between two
//! times: newest first, and the last key read is the cursor. Values are normalised (lower
//! case; subject words one by one). The time field (`t`) has an empty value: every message
//! once, for searches by time alone.

use super::push_str;
use crate::view::message::MessageRecord;
use std::collections::BTreeSet;

pub const CF: &str = "search";

/// The indexed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    AlertId,
    MessageId,
    Sender,
    SenderDomain,
    Recipient,
    SubjectWord,
    Disposition,
    Action,
    /// A reclassification status (PENDING, ACCEPTED, ...): one row per status present.
    Reclassification,
    /// A reclassification's submission id.
    Submission,
    Time,
}

impl Field {
    fn tag(self) -> u8 {
        match self {
            Field::AlertId => b'a',
            Field::MessageId => b'm',
            Field::Sender => b's',
            Field::SenderDomain => b'd',
            Field::Recipient => b'r',
            Field::SubjectWord => b'w',
            Field::Disposition => b'f',
            Field::Action => b'x',
            Field::Reclassification => b'c',
            Field::Submission => b'u',
            Field::Time => b't',
        }
    }

    /// How a value is written in the index (and so how a query value must be written).
    pub fn normalize(self, value: &str) -> String {
        match self {
            Field::AlertId | Field::Submission => value.trim().to_owned(),
            Field::Reclassification => value.trim().to_ascii_uppercase(),
            Field::MessageId => proto::ids::normalize_message_id(value),
            Field::Disposition => value.trim().to_ascii_uppercase(),
            Field::Time => String::new(),
            _ => value.trim().to_lowercase(),
        }
    }
}

pub fn prefix(tenant: &str, field: Field, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + value.len() + 4);
    push_str(&mut k, tenant);
    k.push(field.tag());
    push_str(&mut k, &field.normalize(value));
    k
}

pub fn key(tenant: &str, field: Field, value: &str, at: u64, postern_id: &str) -> Vec<u8> {
    let mut k = prefix(tenant, field, value);
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(postern_id.as_bytes());
    k
}

/// (received_at, postern_id) from a key of this prefix length.
pub fn decode_tail(key: &[u8], prefix_len: usize) -> Option<(u64, String)> {
    let tail = key.get(prefix_len..)?;
    let at = u64::from_be_bytes(tail.get(..8)?.try_into().ok()?);
    let id = std::str::from_utf8(tail.get(8..)?).ok()?.to_owned();
    Some((at, id))
}

/// The words of a subject that are indexed: letters and digits, 2 to 40 characters, at
/// most 40 of them.
pub fn subject_words(subject: &str) -> BTreeSet<String> {
    subject
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| (2..=40).contains(&w.chars().count()))
        .map(str::to_lowercase)
        .take(40)
        .collect()
}

/// The address inside `Name <addr>` (or the text itself).
pub fn address_of(from: &str) -> Option<String> {
    let inner = match (from.rfind('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from,
    };
    let inner = inner.trim().to_lowercase();
    inner.contains('@').then_some(inner)
}

/// Every index row of a record.
pub fn entries(record: &MessageRecord) -> BTreeSet<Vec<u8>> {
    let (t, id, at) = (record.tenant.as_str(), record.postern_id.as_str(), record.received_at());
    let mut out = BTreeSet::new();
    let mut add = |field: Field, value: &str| {
        if field == Field::Time || !value.trim().is_empty() {
            out.insert(key(t, field, value, at, id));
        }
    };
    add(Field::Time, "");
    for v in &record.verdicts {
        add(Field::AlertId, &v.alert_id);
    }
    if let Some(mid) = &record.message_id {
        add(Field::MessageId, mid);
    }
    let mut senders: BTreeSet<String> = record.copies.iter().map(|c| c.sender().to_lowercase()).collect();
    if let Some(from) = record.headers.as_ref().and_then(|h| h.from.as_deref()).and_then(address_of) {
        senders.insert(from);
    }
    for s in senders.iter().filter(|s| !s.is_empty()) {
        add(Field::Sender, s);
        if let Some((_, domain)) = s.rsplit_once('@') {
            add(Field::SenderDomain, domain);
        }
    }
    for r in record.recipients() {
        add(Field::Recipient, &r);
    }
    if let Some(subject) = record.headers.as_ref().and_then(|h| h.subject.as_deref()) {
        for w in subject_words(subject) {
            add(Field::SubjectWord, &w);
        }
    }
    if let Some(d) = record.final_disposition() {
        add(Field::Disposition, d.as_str());
    }
    for action in record.actions_taken() {
        add(Field::Action, &action);
    }
    for s in &record.submissions {
        add(Field::Submission, &s.submission_id);
        add(Field::Reclassification, record.status_of(&s.submission_id).0.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_by_field_value_then_time() {
        let a = key("t", Field::Sender, "a@x", 5, "id1");
        let b = key("t", Field::Sender, "a@x", 7, "id0");
        assert!(a < b, "time orders within a value");
        assert!(key("t", Field::Sender, "a@x", u64::MAX, "z") < key("t", Field::Sender, "a@xy", 0, "a"));
        let p = prefix("t", Field::Sender, "A@X ");
        assert!(a.starts_with(&p), "values are normalised");
        assert_eq!(decode_tail(&b, p.len()), Some((7, "id0".into())));
        assert!(!key("tt", Field::Sender, "a@x", 1, "i").starts_with(&prefix("t", Field::Sender, "a@x")));
    }

    #[test]
    fn subject_words_and_addresses() {
        let w = subject_words("Re: Invoice #4411 — URGENT, urgent!");
        assert_eq!(w.into_iter().collect::<Vec<_>>(), vec!["4411", "invoice", "re", "urgent"]);
        assert_eq!(address_of("Alice <Alice@Example.com>").as_deref(), Some("alice@example.com"));
        assert_eq!(address_of("no address"), None);
    }
}
