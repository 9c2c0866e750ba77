//! Following the streams. The position is the RocksDB checkpoint, not a server-side
//! consumer: each stream is read by an ordered consumer that starts right after the
//! checkpoint, so the views and their position can never disagree, and a rebuild is
//! simply a start from sequence 1.

use crate::projection::StreamEvent;
use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Sends every message of `stream` after `checkpoint`, in order, until cancelled.
pub async fn follow(
    js: jetstream::Context,
    stream: &'static str,
    checkpoint: u64,
    tx: mpsc::Sender<StreamEvent>,
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
                    let Ok(info) = message.info() else {
                        warn!(stream, "message without JetStream metadata skipped");
                        continue;
                    };
                    let seq = info.stream_sequence;
                    let event = StreamEvent {
                        stream,
                        seq,
                        subject: message.subject.to_string(),
                        payload: message.payload.clone(),
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                    next_seq = seq + 1;
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
