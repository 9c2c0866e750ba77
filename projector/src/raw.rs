//! Reading a message back as it arrived: its raw event from MAIL_RAW (by the stream
//! sequence the view recorded) and, for a large one, its body from the Object Store.

use async_nats::jetstream;
use proto::{Event, MailBody};
use tokio::io::AsyncReadExt;

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// The stream no longer holds it (retention) or it is not a raw message.
    #[error("{0}")]
    Gone(String),
    /// JetStream could not be asked.
    #[error("{0}")]
    Unavailable(String),
}

pub async fn fetch(js: &jetstream::Context, seq: u64) -> Result<Vec<u8>, RawError> {
    let stream = js
        .get_stream(proto::subject::STREAM_RAW)
        .await
        .map_err(|e| RawError::Unavailable(format!("stream {}: {e}", proto::subject::STREAM_RAW)))?;
    let message = stream.get_raw_message(seq).await.map_err(|e| {
        RawError::Gone(format!("sequence {seq} of {} is not there any more: {e}", proto::subject::STREAM_RAW))
    })?;
    let (_, event) = proto::decode(&message.payload).map_err(|e| RawError::Gone(format!("sequence {seq}: {e}")))?;
    // A journal copy, or a user's submission mail (stored beside them).
    let body = match event {
        Event::RawMailReceived(raw) => raw.body,
        Event::UserSubmissionReceived(submission) => submission.body,
        _ => return Err(RawError::Gone(format!("sequence {seq} is not a raw message"))),
    };
    match body {
        MailBody::Inline(bytes) => Ok(bytes),
        MailBody::ObjectStore { bucket, key, .. } => {
            let store = js
                .get_object_store(&bucket)
                .await
                .map_err(|e| RawError::Unavailable(format!("object store {bucket}: {e}")))?;
            let mut object =
                store.get(&key).await.map_err(|e| RawError::Gone(format!("object {bucket}/{key}: {e}")))?;
            let mut bytes = Vec::new();
            object
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| RawError::Unavailable(format!("reading {bucket}/{key}: {e}")))?;
            Ok(bytes)
        }
    }
}
