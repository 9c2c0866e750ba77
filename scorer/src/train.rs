//! `scorer train`: a labelled corpus becomes training events on MAIL_TRAINING, which every
//! scorer folds into its token classifier ([`crate::learner`]). Withdrawing publishes the
//! matching `LabelWithdrawn` events, which take back exactly what the examples taught.

use crate::eval::CorpusFile;
use async_nats::jetstream;
use proto::{
    Envelope, Event, EventType, LabelWithdrawn, MailBody, MessageLabelled, PosternId, TenantId, Timestamp,
    TrainingLabel,
};

pub const PRODUCER: &str = concat!("scorer-train/", env!("CARGO_PKG_VERSION"));
/// Larger messages are not published (JetStream's default payload limit is 1 MiB).
pub const MAX_EXAMPLE_BYTES: usize = 1024 * 1024 - 4096;

/// What a corpus label teaches; labels that teach nothing (spoof, malformed, encrypted,
/// unknown) give None.
pub fn label_of(label: &str) -> Option<TrainingLabel> {
    crate::eval::class_of_label(label).map(|class| match class {
        crate::classifier::Class::Ham => TrainingLabel::Ham,
        crate::classifier::Class::Bulk => TrainingLabel::Bulk,
        crate::classifier::Class::Spam => TrainingLabel::Spam,
        crate::classifier::Class::Phish => TrainingLabel::Phish,
    })
}

/// XXH3-128 of the message bytes, hex.
pub fn content_digest(raw: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(raw))
}

/// Why a corpus was not (wholly) published.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Stream(#[from] crate::error::SetupError),
    #[error("{file}: {error}")]
    Publish { file: String, error: proto::publish::PublishError },
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TrainReport {
    pub published: usize,
    /// Files whose label teaches nothing, or that have none.
    pub unlabelled: usize,
    /// Files above [`MAX_EXAMPLE_BYTES`].
    pub too_large: usize,
}

/// Publishes one event per teaching file of `files` on `mail.training.<scope>` and waits
/// for each acknowledgement: `MessageLabelled`, or `LabelWithdrawn` when `withdraw`.
pub async fn publish(
    js: &jetstream::Context,
    files: &[CorpusFile],
    scope: &TenantId,
    withdraw: bool,
    replicas: usize,
) -> Result<TrainReport, TrainError> {
    crate::learner::ensure_training_stream(js, replicas).await?;
    let mut report = TrainReport::default();
    let mut pending = Vec::new();
    for file in files {
        let Some(label) = file.label.as_deref().and_then(label_of) else {
            report.unlabelled += 1;
            continue;
        };
        if file.raw.len() > MAX_EXAMPLE_BYTES {
            report.too_large += 1;
            continue;
        }
        let content_digest = content_digest(&file.raw);
        let (event_type, event) = if withdraw {
            let reason = format!("corpus withdrawn: {}", file.file);
            (
                EventType::LabelWithdrawn,
                Event::LabelWithdrawn(LabelWithdrawn { label, content_digest: content_digest.clone(), reason }),
            )
        } else {
            let body = MailBody::Inline(file.raw.clone());
            let source = format!("corpus:{}", file.file);
            (
                EventType::MessageLabelled,
                Event::MessageLabelled(MessageLabelled { label, source, content_digest: content_digest.clone(), body }),
            )
        };
        let envelope = Envelope {
            event_id: ulid::Ulid::new(),
            event_type,
            schema: event_type.current_schema(),
            tenant: scope.clone(),
            postern_id: PosternId::from_message_id(scope, &content_digest),
            causation_id: None,
            occurred_at: Timestamp::now(),
            producer: PRODUCER.to_owned(),
        };
        let ack = proto::publish::send(js, &envelope, &event)
            .await
            .map_err(|error| TrainError::Publish { file: file.file.clone(), error })?;
        pending.push((file.file.clone(), ack));
        // Bounded in-flight publishes.
        if pending.len() >= 256 {
            for (file, ack) in pending.drain(..) {
                ack.acknowledged().await.map_err(|error| TrainError::Publish { file, error })?;
                report.published += 1;
            }
        }
    }
    for (file, ack) in pending {
        ack.acknowledged().await.map_err(|error| TrainError::Publish { file, error })?;
        report.published += 1;
    }
    Ok(report)
}
