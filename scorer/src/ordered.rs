//! Reading a whole stream in order from its first message, as the learner (MAIL_TRAINING)
//! and the campaign memory (MAIL_FINGERPRINTS) do: the stream's last sequence when reading
//! starts (what "caught up" means), and an ordered consumer's messages.

use crate::error::SetupError;
use async_nats::jetstream::{consumer, stream};

pub async fn from_start(stream: &mut stream::Stream, name: &str) -> Result<(u64, consumer::pull::Ordered), SetupError> {
    let last =
        stream.info().await.map_err(|e| SetupError::unavailable(format!("stream {name}"), e))?.state.last_sequence;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| SetupError::unavailable(format!("consumer on {name}"), e))?;
    let messages = consumer.messages().await.map_err(|e| SetupError::unavailable(format!("reading {name}"), e))?;
    Ok((last, messages))
}
