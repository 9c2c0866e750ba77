//! Folding stream messages into the store: a batch of events becomes one WriteBatch with
//! the view rows and the new checkpoints, written durably before anything is acked.

use crate::error::StoreError;
use crate::store::Store;
use crate::store::schema::{message_id_index, messages, meta};
use crate::view::message::{MessageRecord, Position};
use rocksdb::WriteBatch;
use std::collections::BTreeMap;
use tracing::{error, warn};

/// One message read from a stream.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub stream: &'static str,
    pub seq: u64,
    pub subject: String,
    pub payload: bytes::Bytes,
}

/// What a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    pub folded: usize,
    /// At or below the checkpoint, or an event id already folded.
    pub skipped: usize,
    /// Could not be decoded: logged and passed over (the checkpoint moves on).
    pub rejected: usize,
}

/// Folds `events` (in stream order per stream) and commits them with the checkpoints.
pub fn apply_batch(store: &Store, events: &[StreamEvent]) -> Result<BatchStats, StoreError> {
    let mut stats = BatchStats::default();
    let mut checkpoints: BTreeMap<&'static str, u64> = BTreeMap::new();
    // Records touched in this batch, by key: later events in the batch see earlier ones.
    let mut touched: BTreeMap<Vec<u8>, MessageRecord> = BTreeMap::new();
    let mut index_rows: Vec<Vec<u8>> = Vec::new();

    for event in events {
        let checkpoint = match checkpoints.get(event.stream) {
            Some(&c) => c,
            None => store.checkpoint(event.stream)?,
        };
        if event.seq <= checkpoint {
            stats.skipped += 1;
            continue;
        }
        checkpoints.insert(event.stream, event.seq);
        if proto::subject::is_dead_letter(&event.subject) {
            stats.skipped += 1;
            continue;
        }
        let (envelope, decoded) = match proto::decode(&event.payload) {
            Ok(pair) => pair,
            Err(e) => {
                error!(stream = event.stream, seq = event.seq, error = %e, "undecodable event passed over");
                stats.rejected += 1;
                continue;
            }
        };
        let tenant = envelope.tenant.as_str();
        let postern_id = envelope.postern_id.as_str();
        let key = messages::key(tenant, postern_id);
        let record = match touched.get_mut(&key) {
            Some(r) => r,
            None => {
                let loaded = match store.get(messages::CF, &key)? {
                    Some(bytes) => messages::decode(&bytes)?,
                    None => MessageRecord::new(tenant, postern_id),
                };
                touched.entry(key.clone()).or_insert(loaded)
            }
        };
        let position = Position { stream: event.stream.to_owned(), seq: event.seq };
        if record.apply(&envelope, &decoded, position) {
            stats.folded += 1;
            if let Some(id) = raw_message_id(&decoded) {
                index_rows.push(message_id_index::key(tenant, &id, postern_id));
            }
        } else {
            warn!(stream = event.stream, seq = event.seq, "event already folded; skipped");
            stats.skipped += 1;
        }
    }

    let mut batch = WriteBatch::default();
    let messages_cf = store.cf(messages::CF)?;
    for (key, record) in &touched {
        batch.put_cf(messages_cf, key, messages::encode(record));
    }
    let index_cf = store.cf(message_id_index::CF)?;
    for key in &index_rows {
        batch.put_cf(index_cf, key, []);
    }
    let meta_cf = store.cf(meta::CF)?;
    for (stream, seq) in &checkpoints {
        batch.put_cf(meta_cf, meta::checkpoint_key(stream), seq.to_be_bytes());
    }
    store.write(batch)?;
    Ok(stats)
}

fn raw_message_id(event: &proto::Event) -> Option<String> {
    match event {
        proto::Event::RawMailReceived(raw) => raw.message_id.clone().filter(|m| !m.trim().is_empty()),
        _ => None,
    }
}
