//! Following the streams. The position is the RocksDB checkpoint, not a server-side
//! consumer: each stream is read by an ordered consumer that starts right after the
//! checkpoint, so the views and their position can never disagree, and a rebuild is
//! simply a start from sequence 1.
//!
//! The two streams are folded together, merged by the time JetStream stored each message
//! ([`Merge`]): a message's raw event and its disposition (stored milliseconds apart) land
//! in the same batch, so the message is read and written once, not twice, when the
//! projector catches up. Within a stream the order is always the stream's own.

use crate::projection::StreamEvent;
use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// One message read from a stream, with what the merge needs to know about it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: StreamEvent,
    /// When JetStream stored it (Unix nanoseconds).
    pub stored_at: i128,
    /// Messages of the stream after this one, as the server counted when it sent it.
    pub pending: u64,
}

/// Sends every message of `stream` after `checkpoint`, in order, until cancelled, or
/// until the message at sequence `until` (inclusive) has been sent.
pub async fn follow(
    js: jetstream::Context,
    stream: &'static str,
    checkpoint: u64,
    until: Option<u64>,
    tx: mpsc::Sender<Delivery>,
    token: CancellationToken,
) {
    let handle = loop {
        tokio::select! {
            found = js.get_stream(stream) => match found {
                Ok(s) => break s,
                Err(e) => {
                    warn!(stream, error = %e, "waiting for the stream to exist");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = token.cancelled() => return,
        }
    };
    let mut next_seq = checkpoint + 1;
    if until.is_some_and(|last| next_seq > last) {
        return;
    }
    'consume: loop {
        let consumer = handle
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: next_seq },
                ..Default::default()
            })
            .await;
        let mut messages = match consumer {
            Ok(c) => match c.messages().await {
                Ok(m) => m,
                Err(e) => {
                    warn!(stream, error = %e, "cannot read; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            Err(e) => {
                warn!(stream, error = %e, "cannot create the ordered consumer; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = token.cancelled() => return,
                }
            }
        };
        info!(stream, from_seq = next_seq, "following");
        loop {
            let item = tokio::select! {
                m = messages.next() => m,
                _ = token.cancelled() => return,
            };
            match item {
                Some(Ok(message)) => {
                    let (seq, stored_at, pending) = match message.info() {
                        Ok(info) => (info.stream_sequence, info.published.unix_timestamp_nanos(), info.pending),
                        Err(_) => {
                            warn!(stream, "message without JetStream metadata skipped");
                            continue;
                        }
                    };
                    let event = StreamEvent {
                        stream,
                        seq,
                        subject: message.subject.to_string(),
                        payload: message.payload.clone(),
                    };
                    if tx.send(Delivery { event, stored_at, pending }).await.is_err() {
                        return;
                    }
                    next_seq = seq + 1;
                    if until.is_some_and(|last| seq >= last) {
                        return;
                    }
                }
                Some(Err(e)) => {
                    warn!(stream, error = %e, "ordered consumer error; resuming from {next_seq}");
                    continue 'consume;
                }
                None => continue 'consume,
            }
        }
    }
}

/// Messages a follower reads ahead of the fold, per stream (raw events carry up to a
/// megabyte inline each, so this bounds the memory held).
pub const FOLLOWER_BUFFER: usize = 512;

/// How long a batch waits for a stream that has more to deliver before it goes on
/// without it (a follower reconnecting must not hold up the other stream).
const WAIT_FOR_LAGGING: Duration = Duration::from_millis(50);

struct Source {
    rx: mpsc::Receiver<Delivery>,
    head: Option<Delivery>,
    /// The stream has more to deliver than it has (its last `pending` was not 0, or it
    /// has delivered nothing yet): a batch waits a little for it, to keep the merge in
    /// time order while catching up.
    lagging: bool,
    closed: bool,
}

/// Merges the deliveries of several streams into batches ordered by stored time.
pub struct Merge {
    sources: Vec<Source>,
    /// The batch being gathered (kept here, so a cancelled `next_batch` loses nothing).
    batch: Vec<StreamEvent>,
    bytes: usize,
}

impl Merge {
    pub fn new(receivers: Vec<mpsc::Receiver<Delivery>>) -> Self {
        Merge {
            sources: receivers.into_iter().map(|rx| Source { rx, head: None, lagging: true, closed: false }).collect(),
            batch: Vec::new(),
            bytes: 0,
        }
    }

    /// The next batch of at most `max` events and about `max_bytes` of payload (at least
    /// one event), or None when every stream has ended. Takes, each time, the earliest
    /// stored of the streams' next messages; a stream that is behind is waited for
    /// (briefly), one that is caught up is not. Cancel-safe: what a cancelled call had
    /// gathered is the start of the next call's batch.
    pub async fn next_batch(&mut self, max: usize, max_bytes: usize) -> Option<Vec<StreamEvent>> {
        while self.batch.len() < max && self.bytes < max_bytes {
            for source in &mut self.sources {
                source.fill().await;
            }
            let earliest = self
                .sources
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.head.as_ref().map(|d| (d.stored_at, i)))
                .min()
                .map(|(_, i)| i);
            match earliest {
                Some(i) => {
                    let source = &mut self.sources[i];
                    let delivery = source.head.take().expect("chosen for its head");
                    source.lagging = delivery.pending > 0;
                    self.bytes += delivery.event.payload.len();
                    self.batch.push(delivery.event);
                }
                None if !self.batch.is_empty() => break,
                None => {
                    if self.sources.iter().all(|s| s.closed) {
                        return None;
                    }
                    self.wait_for_any().await;
                }
            }
        }
        self.bytes = 0;
        Some(std::mem::take(&mut self.batch))
    }

    /// Waits until some stream delivers (or every one has ended).
    async fn wait_for_any(&mut self) {
        let open: Vec<&mut Source> = self.sources.iter_mut().filter(|s| !s.closed).collect();
        if open.is_empty() {
            return;
        }
        let receives = open.into_iter().map(|s| {
            Box::pin(async move {
                match s.rx.recv().await {
                    Some(d) => s.head = Some(d),
                    None => s.closed = true,
                }
            })
        });
        futures::future::select_all(receives).await;
    }
}

impl Source {
    async fn fill(&mut self) {
        if self.head.is_some() || self.closed {
            return;
        }
        match self.rx.try_recv() {
            Ok(d) => self.head = Some(d),
            Err(TryRecvError::Disconnected) => self.closed = true,
            Err(TryRecvError::Empty) if self.lagging => {
                match tokio::time::timeout(WAIT_FOR_LAGGING, self.rx.recv()).await {
                    Ok(Some(d)) => self.head = Some(d),
                    Ok(None) => self.closed = true,
                    Err(_) => self.lagging = false,
                }
            }
            Err(TryRecvError::Empty) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(stream: &'static str, seq: u64, stored_at: i128, pending: u64) -> Delivery {
        Delivery {
            event: StreamEvent { stream, seq, subject: String::new(), payload: bytes::Bytes::new() },
            stored_at,
            pending,
        }
    }

    fn order(batch: &[StreamEvent]) -> Vec<(&'static str, u64)> {
        batch.iter().map(|e| (e.stream, e.seq)).collect()
    }

    #[tokio::test]
    async fn batches_follow_stored_time_across_streams_and_keep_each_streams_order() {
        let (raw_tx, raw_rx) = mpsc::channel(16);
        let (ev_tx, ev_rx) = mpsc::channel(16);
        // Raw events at 10, 20, 30; their dispositions 5 later; the last ones say nothing
        // more is pending.
        for (i, t) in [10, 20, 30].into_iter().enumerate() {
            raw_tx.send(delivery("RAW", i as u64 + 1, t, 2 - i as u64)).await.unwrap();
            ev_tx.send(delivery("EV", i as u64 + 1, t + 5, 2 - i as u64)).await.unwrap();
        }
        let mut merge = Merge::new(vec![raw_rx, ev_rx]);
        let batch = merge.next_batch(4, usize::MAX).await.unwrap();
        assert_eq!(order(&batch), [("RAW", 1), ("EV", 1), ("RAW", 2), ("EV", 2)]);
        let batch = merge.next_batch(100, usize::MAX).await.unwrap();
        assert_eq!(order(&batch), [("RAW", 3), ("EV", 3)], "a short batch when both streams are caught up");
        drop((raw_tx, ev_tx));
        assert!(merge.next_batch(100, usize::MAX).await.is_none(), "every stream ended");
    }

    #[tokio::test]
    async fn a_batch_ends_at_its_byte_budget() {
        let (tx, rx) = mpsc::channel(16);
        for seq in 1..=5 {
            let mut d = delivery("RAW", seq, seq as i128, 5 - seq);
            d.event.payload = bytes::Bytes::from(vec![0u8; 100]);
            tx.send(d).await.unwrap();
        }
        let mut merge = Merge::new(vec![rx]);
        assert_eq!(order(&merge.next_batch(100, 250).await.unwrap()), [("RAW", 1), ("RAW", 2), ("RAW", 3)]);
        assert_eq!(order(&merge.next_batch(100, 250).await.unwrap()), [("RAW", 4), ("RAW", 5)]);
    }

    #[tokio::test]
    async fn a_lagging_stream_is_waited_for_so_the_merge_stays_in_time_order() {
        let (raw_tx, raw_rx) = mpsc::channel(16);
        let (ev_tx, ev_rx) = mpsc::channel(16);
        raw_tx.send(delivery("RAW", 1, 10, 1)).await.unwrap();
        ev_tx.send(delivery("EV", 1, 15, 0)).await.unwrap();
        let mut merge = Merge::new(vec![raw_rx, ev_rx]);
        // RAW said one more is pending; it arrives a moment later, before EV's 15 is taken.
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            raw_tx.send(delivery("RAW", 2, 12, 0)).await.unwrap();
            raw_tx
        });
        let batch = merge.next_batch(10, usize::MAX).await.unwrap();
        assert_eq!(order(&batch), [("RAW", 1), ("RAW", 2), ("EV", 1)]);
        let _raw_tx = late.await.unwrap();
    }

    #[tokio::test]
    async fn a_silent_stream_does_not_hold_up_the_other() {
        let (_raw_tx, raw_rx) = mpsc::channel::<Delivery>(16);
        let (ev_tx, ev_rx) = mpsc::channel(16);
        ev_tx.send(delivery("EV", 7, 100, 0)).await.unwrap();
        let mut merge = Merge::new(vec![raw_rx, ev_rx]);
        let batch = tokio::time::timeout(Duration::from_secs(10), merge.next_batch(10, usize::MAX))
            .await
            .expect("the merge gives up waiting for a silent stream")
            .unwrap();
        assert_eq!(order(&batch), [("EV", 7)]);
        // Once it has been waited for in vain, it is not waited for again.
        ev_tx.send(delivery("EV", 8, 200, 0)).await.unwrap();
        assert_eq!(order(&merge.next_batch(10, usize::MAX).await.unwrap()), [("EV", 8)]);
    }
}
