//! `message_id_index`: RFC 5322 Message-ID -> Postern ids.
//!
//! ```text
//! tenant 0x00 normalized_message_id 0x00 postern_id  ->  (empty)
//! ```
//! Normally one Postern id per Message-ID and tenant (the id is derived from it); the
//! index still allows several, so a lookup is a prefix scan.

use super::push_str;

pub const CF: &str = "message_id_index";

pub fn prefix(tenant: &str, message_id: &str) -> Vec<u8> {
    let mut k = Vec::new();
    push_str(&mut k, tenant);
    push_str(&mut k, &proto::ids::normalize_message_id(message_id));
    k
}

pub fn key(tenant: &str, message_id: &str, postern_id: &str) -> Vec<u8> {
    let mut k = prefix(tenant, message_id);
    k.extend_from_slice(postern_id.as_bytes());
    k
}

/// The Postern id at the end of an index key.
pub fn postern_id_of(key: &[u8], prefix_len: usize) -> Option<String> {
    key.get(prefix_len..).and_then(|b| std::str::from_utf8(b).ok()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_normalized_prefixes() {
        let k = key("default", "<Abc@Example.com>", "0123456789abcde");
        let p = prefix("default", "abc@example.com");
        assert!(k.starts_with(&p));
        assert_eq!(postern_id_of(&k, p.len()).as_deref(), Some("0123456789abcde"));
        // A Message-ID that extends another is not matched by its prefix.
        assert!(!key("default", "abc@example.comx", "x").starts_with(&p));
    }
}
