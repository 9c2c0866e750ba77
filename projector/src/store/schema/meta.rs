//! `meta`: the view format version and the stream checkpoints.
//!
//! ```text
//! b"format"                      -> u32 BE (FORMAT)
//! b"checkpoint/" stream name     -> u64 BE (last stream sequence folded)
//! ```

use crate::error::StoreError;

pub const CF: &str = "meta";
pub const FORMAT_KEY: &[u8] = b"format";
/// Set by `projector rebuild --as-of`: the time (ms, u64 BE) the views stand at.
pub const AS_OF_KEY: &[u8] = b"as_of";
/// Set when the views hold one shard of the tenants (`"1/4"`); absent: every tenant.
pub const SHARD_KEY: &[u8] = b"shard";
/// The layout of the views. Bump it when a key or value layout changes; a database of
/// another format must be rebuilt from the streams.
pub const FORMAT: u32 = 4;

pub fn checkpoint_key(stream: &str) -> Vec<u8> {
    let mut k = b"checkpoint/".to_vec();
    k.extend_from_slice(stream.as_bytes());
    k
}

pub fn decode_u64(v: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] =
        v.try_into().map_err(|_| StoreError::Corrupt { cf: CF, reason: "u64 of wrong length".into() })?;
    Ok(u64::from_be_bytes(bytes))
}

pub fn decode_u32(v: &[u8]) -> Result<u32, StoreError> {
    let bytes: [u8; 4] =
        v.try_into().map_err(|_| StoreError::Corrupt { cf: CF, reason: "u32 of wrong length".into() })?;
    Ok(u32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs() {
        assert_eq!(checkpoint_key("MAIL_RAW"), b"checkpoint/MAIL_RAW");
        assert_eq!(decode_u64(&42u64.to_be_bytes()).unwrap(), 42);
        assert!(decode_u64(b"short").is_err());
        assert!(decode_u32(b"").is_err());
    }
}
