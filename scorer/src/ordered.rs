//! The streams the scorer reads whole, in order from their first message, as the learner
//! (MAIL_TRAINING) and the campaign memory (MAIL_FINGERPRINTS) do: created when missing
//! with the configured replica count, the stream's last sequence when reading starts (what
//! "caught up" means), and an ordered consumer's messages.

use crate::error::SetupError;
use async_nats::jetstream::{self, consumer, stream};

/// Creates the stream `config` describes if it is missing; one that exists with another
/// replica count is an error (the caller checks the rest of its settings).
pub async fn ensure(
    js: &jetstream::Context,
    config: stream::Config,
    replicas: usize,
) -> Result<stream::Stream, SetupError> {
    let name = config.name.clone();
    let stream =
        js.get_or_create_stream(config).await.map_err(|e| SetupError::unavailable(format!("stream {name}"), e))?;
    proto::cluster::check_stream_replicas(&name, stream.cached_info().config.num_replicas, replicas)?;
    Ok(stream)
}

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
