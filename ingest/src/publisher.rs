//! Stores raw events in JetStream and waits for the acknowledgement.

use crate::error::{PublishError, StreamSetupError};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, object_store, stream};
use proto::subject;
use std::future::Future;
use std::time::Duration;

/// Where accepted mail goes. The SMTP connection answers 250 only when `store` returned
/// `Ok`, which for JetStream means the PubAck arrived.
pub trait RawMailSink: Send + Sync + 'static {
    /// Stores `object` (name, bytes) first when there is one, then publishes the event.
    fn store(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
        object: Option<(String, Vec<u8>)>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

#[derive(Clone)]
pub struct JetStreamSink {
    client: async_nats::Client,
    js: jetstream::Context,
    bodies: object_store::ObjectStore,
    timeout: Duration,
}

impl JetStreamSink {
    pub fn new(client: async_nats::Client, bodies: object_store::ObjectStore, timeout: Duration) -> Self {
        let js = jetstream::new(client.clone());
        JetStreamSink { client, js, bodies, timeout }
    }
}

impl RawMailSink for JetStreamSink {
    async fn store(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
        object: Option<(String, Vec<u8>)>,
    ) -> Result<(), PublishError> {
        // While disconnected the client would buffer the publish and send it after the
        // reconnect, after we answered 451: refuse at once instead.
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(PublishError::Publish("not connected to NATS".into()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(subject::HEADER_MSG_ID, msg_id.as_str());
        let publish = async {
            if let Some((name, bytes)) = object {
                // Same name for the same copy: a retried delivery overwrites, never doubles.
                self.bodies
                    .put(name.as_str(), &mut bytes.as_slice())
                    .await
                    .map_err(|e| PublishError::Publish(format!("object store: {e}")))?;
            }
            proto::publish::publish_bytes(&self.js, subject, headers, payload, None)
                .await
                .map_err(|e| PublishError::Publish(e.to_string()))
        };
        match tokio::time::timeout(self.timeout, publish).await {
            Ok(Ok(_ack)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(PublishError::Timeout(self.timeout)),
        }
    }
}

/// The MAIL_RAW stream as ingest needs it: created if missing (on `replicas` nodes),
/// checked if present.
pub async fn ensure_raw_stream(
    js: &jetstream::Context,
    max_message_size: usize,
    duplicate_window: Duration,
    replicas: usize,
) -> Result<(), StreamSetupError> {
    let config = stream::Config {
        name: subject::STREAM_RAW.to_owned(),
        subjects: vec![subject::RAW_SUBJECTS.to_owned()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window,
        // Headroom for the envelope around the largest message.
        max_message_size: i32::try_from(max_message_size + 64 * 1024).unwrap_or(i32::MAX),
        num_replicas: replicas,
        ..Default::default()
    };
    let stream = js.get_or_create_stream(config).await.map_err(|e| StreamSetupError::Nats(e.to_string()))?;
    let info = stream.cached_info();
    if !info.config.subjects.iter().any(|s| s == subject::RAW_SUBJECTS) {
        return Err(StreamSetupError::Unusable(format!(
            "stream {} exists with subjects {:?}, expected {}",
            subject::STREAM_RAW,
            info.config.subjects,
            subject::RAW_SUBJECTS
        )));
    }
    Ok(proto::cluster::check_stream_replicas(subject::STREAM_RAW, info.config.num_replicas, replicas)?)
}

/// The Object Store bucket of large bodies: opened (its replica count checked), or created
/// on `replicas` nodes if missing.
pub async fn ensure_bodies_bucket(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<object_store::ObjectStore, StreamSetupError> {
    if let Ok(bucket) = js.get_object_store(subject::BUCKET_RAW_BODIES).await {
        let stream_name = format!("OBJ_{}", subject::BUCKET_RAW_BODIES);
        let stream = js
            .get_stream(&stream_name)
            .await
            .map_err(|e| StreamSetupError::Nats(format!("stream {stream_name}: {e}")))?;
        proto::cluster::check_stream_replicas(&stream_name, stream.cached_info().config.num_replicas, replicas)?;
        return Ok(bucket);
    }
    js.create_object_store(object_store::Config {
        bucket: subject::BUCKET_RAW_BODIES.to_owned(),
        description: Some("Postern: message bodies above ingest's inline limit".to_owned()),
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| StreamSetupError::Nats(format!("object store {}: {e}", subject::BUCKET_RAW_BODIES)))
}
