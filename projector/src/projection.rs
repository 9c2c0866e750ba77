//! Folding stream messages into the store: a batch of events becomes one WriteBatch with
//! the view rows and the new checkpoints, written durably before anything is acked.

use crate::error::StoreError;
use crate::store::Store;
use crate::store::schema::{daily, message_id_index, messages, meta, policy_changes, search};
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
    apply_batch_as_of(store, events, None)
}

/// The same, leaving out events that occurred after `as_of` (ms): the views as they
/// stood then.
pub fn apply_batch_as_of(store: &Store, events: &[StreamEvent], as_of: Option<u64>) -> Result<BatchStats, StoreError> {
    let mut stats = BatchStats::default();
    let mut checkpoints: BTreeMap<&'static str, u64> = BTreeMap::new();
    // Records touched in this batch, by key, with what they were before the batch: later
    // events in the batch see earlier ones; indexes and counters change by the difference.
    let mut touched: BTreeMap<Vec<u8>, (Option<MessageRecord>, MessageRecord)> = BTreeMap::new();
    let mut index_rows: Vec<Vec<u8>> = Vec::new();
    let mut policy_rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();

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
        if as_of.is_some_and(|t| envelope.occurred_at.millis() > t) {
            stats.skipped += 1;
            continue;
        }
        let tenant = envelope.tenant.as_str();
        if let proto::Event::PolicyChanged(change) = &decoded {
            let row = policy_changes::PolicyChangeRow {
                at: envelope.occurred_at.millis(),
                event_id: envelope.event_id.to_bytes(),
                changed_by: change.changed_by.clone(),
                revision: change.revision,
                policy_digest: change.policy_digest.clone(),
                summary: change.summary.clone(),
            };
            policy_rows.push((policy_changes::key(tenant, row.at, row.event_id), policy_changes::encode(&row)));
            stats.folded += 1;
            continue;
        }
        let postern_id = envelope.postern_id.as_str();
        let key = messages::key(tenant, postern_id);
        let (_, record) = match touched.get_mut(&key) {
            Some(r) => r,
            None => {
                let loaded = store.get(messages::CF, &key)?.map(|bytes| messages::decode(&bytes)).transpose()?;
                let current = loaded.clone().unwrap_or_else(|| MessageRecord::new(tenant, postern_id));
                touched.entry(key.clone()).or_insert((loaded, current))
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
    let search_cf = store.cf(search::CF)?;
    let mut counters: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for (key, (before, record)) in &touched {
        if before.as_ref() == Some(record) {
            continue;
        }
        batch.put_cf(messages_cf, key, messages::encode(record));
        let old_rows = before.as_ref().map(search::entries).unwrap_or_default();
        let new_rows = search::entries(record);
        for gone in old_rows.difference(&new_rows) {
            batch.delete_cf(search_cf, gone);
        }
        for added in new_rows.difference(&old_rows) {
            batch.put_cf(search_cf, added, []);
        }
        for k in before.as_ref().map(daily::contributions).unwrap_or_default() {
            *counters.entry(k).or_default() -= 1;
        }
        for k in daily::contributions(record) {
            *counters.entry(k).or_default() += 1;
        }
    }
    let daily_cf = store.cf(daily::CF)?;
    for (key, delta) in counters.into_iter().filter(|(_, d)| *d != 0) {
        let current = store.get(daily::CF, &key)?.map(|v| daily::decode_count(&v)).unwrap_or(0) as i64;
        let next = current + delta;
        if next <= 0 {
            batch.delete_cf(daily_cf, key);
        } else {
            batch.put_cf(daily_cf, key, (next as u64).to_be_bytes());
        }
    }
    let policy_cf = store.cf(policy_changes::CF)?;
    for (key, value) in &policy_rows {
        batch.put_cf(policy_cf, key, value);
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
