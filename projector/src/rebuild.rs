//! Audit replay: `projector rebuild` folds the retained streams from sequence 1 into a
//! fresh database (optionally as the views stood at a time), and `projector verify`
//! compares two databases key by key.

use crate::consumer::{Merge, follow};
use crate::error::{RunError, StoreError};
use crate::projection::{StreamEvent, apply_batch_scoped};
use crate::store::{COLUMN_FAMILIES, Store};
use async_nats::jetstream;
use proto::subject::{STREAM_EVENTS, STREAM_RAW};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A rebuild gives up when the streams deliver nothing for this long.
const STALL: Duration = Duration::from_secs(30);

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RebuildStats {
    pub events: u64,
    pub folded: u64,
    pub skipped: u64,
    pub rejected: u64,
    pub seconds: f64,
    pub bytes_on_disk: u64,
}

impl RebuildStats {
    pub fn events_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.events as f64 / self.seconds } else { 0.0 }
    }
}

/// Folds MAIL_RAW and MAIL_EVENTS, each from its first sequence to its last sequence when the
/// rebuild started, into a new database at `target` (which must not exist), only the
/// tenants of `shard` when one is given (a sharded projector's views). `progress` is
/// called now and then with (events read, events to read).
pub async fn rebuild(
    js: &jetstream::Context,
    target: &Path,
    as_of: Option<u64>,
    shard: Option<crate::shard::Shard>,
    batch_size: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<RebuildStats, RunError> {
    if target.exists() && std::fs::read_dir(target).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(RunError::ViewsFolder(format!("{} exists: rebuild writes a fresh database", target.display())));
    }
    let store = std::sync::Arc::new(Store::open_for_rebuild(target)?);
    store.claim_shard(shard)?;
    let started = Instant::now();
    let mut stats = RebuildStats::default();
    let mut plan = Vec::new();
    for stream in [STREAM_RAW, STREAM_EVENTS] {
        match js.get_stream(stream).await {
            Ok(mut s) => {
                let state = s.info().await.map_err(|e| RunError::Nats(format!("{stream}: {e}")))?.state.clone();
                plan.push((stream, state.first_sequence, state.last_sequence, state.messages));
            }
            Err(e) => tracing::warn!(stream, error = %e, "stream not found; nothing to fold from it"),
        }
    }
    let total: u64 = plan.iter().map(|(_, _, _, n)| *n).sum();
    // Reading and folding overlap: batches go from this task to a folding thread.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<StreamEvent>>(4);
    let folder_store = store.clone();
    let folder = tokio::task::spawn_blocking(move || -> Result<(u64, u64, u64), StoreError> {
        let (mut folded, mut skipped, mut rejected) = (0, 0, 0);
        while let Some(batch) = rx.blocking_recv() {
            let b = apply_batch_scoped(&folder_store, &batch, as_of, shard.as_ref())?;
            folded += b.folded as u64;
            skipped += b.skipped as u64;
            rejected += b.rejected as u64;
        }
        Ok((folded, skipped, rejected))
    });
    // Both streams are read at once and merged by stored time, as the live projector
    // folds them; each follower stops at the stream's last sequence when the rebuild began.
    let token = CancellationToken::new();
    let _stop_followers = token.clone().drop_guard();
    let mut receivers = Vec::new();
    let mut expected: Vec<(&'static str, u64)> = Vec::new();
    for (stream, first, last, _) in plan {
        if last == 0 || last < first {
            continue;
        }
        let (events_tx, events_rx) = tokio::sync::mpsc::channel(crate::consumer::FOLLOWER_BUFFER);
        tokio::spawn(follow(js.clone(), stream, first.max(1) - 1, Some(last), events_tx, token.clone()));
        receivers.push(events_rx);
        expected.push((stream, last));
    }
    let mut merge = Merge::new(receivers);
    let mut read = 0u64;
    let mut reached: Vec<(&'static str, u64)> = Vec::new();
    let mut last_report = Instant::now();
    loop {
        let batch = match tokio::time::timeout(STALL, merge.next_batch(batch_size, crate::BATCH_BYTES)).await {
            Ok(Some(batch)) => batch,
            Ok(None) => break,
            Err(_) => {
                return Err(RunError::Nats(format!(
                    "no message for {STALL:?}: read {read} of {total} (the streams' server is unreachable?)"
                )));
            }
        };
        read += batch.len() as u64;
        for event in &batch {
            match reached.iter_mut().find(|(s, _)| *s == event.stream) {
                Some((_, seq)) => *seq = event.seq,
                None => reached.push((event.stream, event.seq)),
            }
        }
        if tx.send(batch).await.is_err() {
            // The folder stopped: its error is reported below.
            break;
        }
        if last_report.elapsed() >= Duration::from_millis(500) {
            progress(read, total);
            last_report = Instant::now();
        }
    }
    drop(tx);
    let (folded, skipped, rejected) =
        folder.await.map_err(|e| RunError::Fold(format!("the fold task failed: {e}")))??;
    for (stream, last) in expected {
        let got = reached.iter().find(|(s, _)| *s == stream).map_or(0, |(_, seq)| *seq);
        if got < last {
            return Err(RunError::Nats(format!("{stream}: stopped at sequence {got} of {last}")));
        }
    }
    stats.folded = folded;
    stats.skipped = skipped;
    stats.rejected = rejected;
    progress(read, total);
    if let Some(t) = as_of {
        store.put_meta(crate::store::schema::meta::AS_OF_KEY, &t.to_be_bytes())?;
    }
    store.flush()?;
    stats.events = read;
    stats.seconds = started.elapsed().as_secs_f64();
    drop(store);
    stats.bytes_on_disk = Store::size_on_disk(target);
    Ok(stats)
}

/// One difference between two databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub column_family: &'static str,
    pub key: Vec<u8>,
    /// What each side holds (None: the key is missing there).
    pub left: Option<Vec<u8>>,
    pub right: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Keys compared, over every column family.
    pub keys: u64,
    pub differences: u64,
    /// The first ones, in key order.
    pub first: Vec<Difference>,
}

/// Compares every column family of two databases key by key, keeping the first
/// `keep` differences.
pub fn verify(left: &Store, right: &Store, keep: usize) -> Result<VerifyReport, StoreError> {
    verify_tenant(left, right, keep, None)
}

/// [`verify`], of one tenant's keys only when `tenant` is given (every column family but
/// `meta`, whose checkpoints and shard belong to the database): how a shard's views are
/// checked against an unsharded projector's.
pub fn verify_tenant(
    left: &Store,
    right: &Store,
    keep: usize,
    tenant: Option<&str>,
) -> Result<VerifyReport, StoreError> {
    let prefix = tenant.map(|t| {
        let mut p = t.as_bytes().to_vec();
        p.push(0);
        p
    });
    let ours = |item: &Result<crate::store::KeyValue, StoreError>| match (&prefix, item) {
        (Some(p), Ok((key, _))) => key.starts_with(p),
        _ => true,
    };
    let mut report = VerifyReport::default();
    for cf in COLUMN_FAMILIES {
        if prefix.is_some() && cf == crate::store::schema::meta::CF {
            continue;
        }
        let mut a = left.iter_all(cf)?.filter(ours).peekable();
        let mut b = right.iter_all(cf)?.filter(ours).peekable();
        loop {
            let next = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(Err(_)), _) => return Err(a.next().expect("peeked").unwrap_err()),
                (_, Some(Err(_))) => return Err(b.next().expect("peeked").unwrap_err()),
                (Some(Ok((ka, _))), Some(Ok((kb, _)))) => ka.cmp(kb),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
            };
            report.keys += 1;
            let diff = match next {
                std::cmp::Ordering::Equal => {
                    let (ka, va) = a.next().expect("peeked")?;
                    let (_, vb) = b.next().expect("peeked")?;
                    (va != vb).then(|| Difference {
                        column_family: cf,
                        key: ka.to_vec(),
                        left: Some(va.to_vec()),
                        right: Some(vb.to_vec()),
                    })
                }
                std::cmp::Ordering::Less => {
                    let (ka, va) = a.next().expect("peeked")?;
                    Some(Difference { column_family: cf, key: ka.to_vec(), left: Some(va.to_vec()), right: None })
                }
                std::cmp::Ordering::Greater => {
                    let (kb, vb) = b.next().expect("peeked")?;
                    Some(Difference { column_family: cf, key: kb.to_vec(), left: None, right: Some(vb.to_vec()) })
                }
            };
            if let Some(d) = diff {
                report.differences += 1;
                if report.first.len() < keep {
                    report.first.push(d);
                }
            }
        }
    }
    Ok(report)
}

/// A key for people: printable bytes as they are, others as `\xNN`.
pub fn show_key(key: &[u8]) -> String {
    key.iter()
        .map(|&b| if b.is_ascii_graphic() || b == b' ' { (b as char).to_string() } else { format!("\\x{b:02x}") })
        .collect()
}
