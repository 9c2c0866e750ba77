//! Stream definitions that more than one component creates (feature `nats`): each is
//! defined here once, so that whoever creates it first creates the same stream.

use crate::subject::{
    FINGERPRINT_MAX_MESSAGE_BYTES, FINGERPRINT_SUBJECTS, FINGERPRINTS_DESCRIPTION, STREAM_FINGERPRINTS,
    STREAM_TRAINING, TRAINING_DESCRIPTION, TRAINING_MAX_MESSAGE_BYTES, TRAINING_SUBJECTS,
};
use async_nats::jetstream::stream;

/// MAIL_TRAINING on `replicas` nodes: created by the scorers, `scorer train` and the
/// projector (whose reactor may publish before any scorer ran). File storage, limits
/// retention, room for a whole message per event.
pub fn training(replicas: usize) -> stream::Config {
    stream::Config {
        name: STREAM_TRAINING.to_owned(),
        subjects: vec![TRAINING_SUBJECTS.to_owned()],
        description: Some(TRAINING_DESCRIPTION.to_owned()),
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_message_size: TRAINING_MAX_MESSAGE_BYTES,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// MAIL_FINGERPRINTS on `replicas` nodes, each fingerprint kept `max_age` (the scorers'
/// `campaign_window`): created by the scorers.
pub fn fingerprints(replicas: usize, max_age: std::time::Duration) -> stream::Config {
    stream::Config {
        name: STREAM_FINGERPRINTS.to_owned(),
        subjects: vec![FINGERPRINT_SUBJECTS.to_owned()],
        description: Some(FINGERPRINTS_DESCRIPTION.to_owned()),
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age,
        max_message_size: FINGERPRINT_MAX_MESSAGE_BYTES,
        num_replicas: replicas,
        ..Default::default()
    }
}

/// The stream behind KV bucket `bucket`, as async-nats's `create_key_value` would make it
/// (that call first asks for the account's limits, whose answer async-nats 0.51 cannot read
/// from older servers): the last `history` values per key, on `replicas` nodes. Create it,
/// then open the bucket with `get_key_value(bucket)`.
pub fn kv_bucket(bucket: &str, description: &str, history: i64, replicas: usize) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.to_owned()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: history,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: replicas,
        ..Default::default()
    }
}
