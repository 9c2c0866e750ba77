//! A scored message's text, fingerprinted for the scorers' memory of snowshoe campaigns
//! (the same text from other sender domains): published by the scorer that scored it on
//! `mail.fingerprint.<tenant>` (MAIL_FINGERPRINTS), folded by every scorer into its memory,
//! so that each scorer remembers what all of them scored, and a restarted one what was
//! scored before it started. Not an event: it records no decision, the views never read it,
//! and the stream keeps it only for the memory's window.

use crate::error::DecodeError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The bytes every encoded fingerprint starts with, then [`FORMAT`].
pub const MAGIC: &[u8; 4] = b"PSFP";
pub const FORMAT: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextFingerprint {
    /// The least value of the text's word trigrams under each of the scorers' hash
    /// functions (32 of them).
    pub min_hashes: Vec<u32>,
    /// The organizational domain of the From address.
    pub sender_domain: String,
    /// When the message was scored.
    pub scored_at: Timestamp,
}

impl TextFingerprint {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(FORMAT);
        out.extend(postcard::to_allocvec(self).expect("a fingerprint always serializes"));
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(DecodeError::BadMagic)?;
        match rest.split_first() {
            Some((&FORMAT, body)) => postcard::from_bytes(body)
                .map_err(|e| DecodeError::Malformed { part: "fingerprint", reason: e.to_string() }),
            Some((&other, _)) => Err(DecodeError::UnknownEnvelopeVersion(other)),
            None => Err(DecodeError::Malformed { part: "fingerprint", reason: "no format byte".into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_cannot_read() {
        let fp = TextFingerprint {
            min_hashes: (0..32).map(|i| i * 7919).collect(),
            sender_domain: "tabletlist.example".into(),
            scored_at: Timestamp(1_765_000_000_000),
        };
        let bytes = fp.encode();
        assert_eq!(TextFingerprint::decode(&bytes), Ok(fp));
        assert_eq!(TextFingerprint::decode(b"PSTN\x01"), Err(DecodeError::BadMagic));
        let mut newer = bytes.clone();
        newer[4] = 2;
        assert_eq!(TextFingerprint::decode(&newer), Err(DecodeError::UnknownEnvelopeVersion(2)));
        assert!(matches!(TextFingerprint::decode(&bytes[..8]), Err(DecodeError::Malformed { .. })));
    }
}
