//! Stores raw events in JetStream and waits for the acknowledgement.

use crate::error::PublishError;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use proto::subject;
use std::future::Future;
use std::time::Duration;

/// Where accepted mail goes. The SMTP connection answers 250 only when `store` returned
/// `Ok`, which for JetStream means the PubAck arrived.
pub trait RawMailSink: Send + Sync + 'static {
    fn store(
        &self,
        subject: String,
        event_id: String,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

#[derive(Clone)]
pub struct JetStreamSink {
    js: jetstream::Context,
    timeout: Duration,
}

impl JetStreamSink {
    pub fn new(js: jetstream::Context, timeout: Duration) -> Self {
        JetStreamSink { js, timeout }
    }
}

impl RawMailSink for JetStreamSink {
    async fn store(&self, subject: String, event_id: String, payload: Vec<u8>) -> Result<(), PublishError> {
        let mut headers = HeaderMap::new();
        headers.insert(subject::HEADER_MSG_ID, event_id.as_str());
        let publish = async {
            let ack = self
                .js
                .publish_with_headers(subject, headers, payload.into())
                .await
                .map_err(|e| PublishError::Publish(e.to_string()))?;
            ack.await.map_err(|e| PublishError::Publish(e.to_string()))
        };
        match tokio::time::timeout(self.timeout, publish).await {
            Ok(Ok(_ack)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(PublishError::Timeout(self.timeout)),
        }
    }
}

/// The MAIL_RAW stream as ingest needs it: created if missing, checked if present.
pub async fn ensure_raw_stream(js: &jetstream::Context, max_message_size: usize) -> Result<(), String> {
    let config = stream::Config {
        name: subject::STREAM_RAW.to_owned(),
        subjects: vec![subject::RAW_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: Duration::from_secs(120),
        // Headroom for the envelope around the largest message.
        max_message_size: i32::try_from(max_message_size + 64 * 1024).unwrap_or(i32::MAX),
        ..Default::default()
    };
    let stream = js.get_or_create_stream(config).await.map_err(|e| e.to_string())?;
    let info = stream.cached_info();
    if !info.config.subjects.iter().any(|s| s == subject::RAW_SUBJECTS) {
        return Err(format!(
            "stream {} exists with subjects {:?}, expected {}",
            subject::STREAM_RAW,
            info.config.subjects,
            subject::RAW_SUBJECTS
        ));
    }
    Ok(())
}
