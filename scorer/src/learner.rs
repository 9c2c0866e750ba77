//! What the scorers learn: the token classifier's models, folded from the training events
//! of MAIL_TRAINING (`MessageLabelled`, `LabelWithdrawn`). Every scorer process folds the
//! whole stream at start, before it scores, and keeps following it, so a new example (or a
//! withdrawal) applies to the next messages within moments, with no restart, and every
//! scorer holds the same models. Because the models are a fold of retained events they can
//! always be rebuilt, and a withdrawal takes back exactly what its example taught.

use crate::classifier::{Class, TokenModel, TokenSet, tokenize};
use crate::error::SetupError;
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use proto::subject::{STREAM_TRAINING, TRAINING_SHARED_SCOPE};
use proto::{Event, LabelWithdrawn, MailBody, MessageLabelled, TrainingLabel};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tracing::{error, info, warn};

pub fn class_of(label: TrainingLabel) -> Class {
    match label {
        TrainingLabel::Ham => Class::Ham,
        TrainingLabel::Spam => Class::Spam,
        TrainingLabel::Phish => Class::Phish,
        TrainingLabel::Bulk => Class::Bulk,
    }
}

/// What folding one training event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Learned,
    Unlearned,
    /// The same example again, a withdrawal of one never learned, an unreadable message,
    /// or an event that teaches nothing.
    Unchanged,
}

/// The fold: models per scope (a tenant, or the shared scope) and the examples they hold.
#[derive(Debug, Default)]
pub struct Learner {
    models: HashMap<String, Arc<TokenModel>>,
    /// The tokens each example taught, to unlearn exactly.
    examples: HashMap<ExampleKey, TokenSet>,
    /// The examples the scorers taught themselves ([`crate::autolearn`]): a person's label
    /// for the same message (a reclassification, a corpus) takes their place.
    autolearned: std::collections::HashSet<ExampleKey>,
    /// Each example's message ([`MessageGroup`]).
    group_of: HashMap<ExampleKey, MessageGroup>,
    /// Per message, its autolearned examples (one per copy that was autolearned).
    autolearned_of: HashMap<MessageGroup, Vec<ExampleKey>>,
    /// Per message, the examples people taught (reclassifications, corpora).
    taught_by_people: HashMap<MessageGroup, std::collections::HashSet<ExampleKey>>,
}

/// (scope, message): the Postern id of the event's message, or, for a lesson read without
/// its envelope, `digest:<content digest>` (one copy).
type MessageGroup = (String, String);

/// What one training event teaches, worked out apart from the learner: parsing and
/// tokenizing the message are the costly and fallible part, so they run before the write
/// lock is taken (and a panic in them cannot poison it).
#[derive(Debug)]
pub enum Lesson {
    Learn {
        key: ExampleKey,
        tokens: TokenSet,
        /// Taught by a scorer's autolearning, not by a person or a corpus.
        autolearned: bool,
        /// The Postern id of the message (the event's envelope): a person's label for one
        /// copy takes the place of what autolearning taught from any copy of it.
        message: Option<String>,
    },
    Unlearn {
        key: ExampleKey,
    },
    /// An unreadable message, or an event that teaches nothing.
    Nothing,
}

/// (scope, content digest, label): one example.
pub type ExampleKey = (String, String, TrainingLabel);

/// Learning from one training event panicked (a tokenizer bug on one odd message): the
/// panic's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("learning from the event panicked: {0}")]
pub struct LessonPanicked(pub String);

impl Lesson {
    /// Reads `event` of `scope`; `body` is the message of a `MessageLabelled` (resolved by the
    /// caller when it lives in the Object Store).
    pub fn of(scope: &str, event: &Event, body: Option<&[u8]>) -> Lesson {
        match event {
            Event::MessageLabelled(MessageLabelled { label, content_digest, source, .. }) => {
                let Some(message) = body.and_then(crate::parse::parse_message) else {
                    return Lesson::Nothing;
                };
                #[cfg(test)]
                failpoint::tokenize(body.unwrap_or_default());
                let tokens = tokenize(&message);
                Lesson::Learn {
                    key: (scope.to_owned(), content_digest.clone(), *label),
                    tokens,
                    autolearned: crate::autolearn::is_autolearned(source),
                    message: None,
                }
            }
            Event::LabelWithdrawn(LabelWithdrawn { label, content_digest, .. }) => {
                Lesson::Unlearn { key: (scope.to_owned(), content_digest.clone(), *label) }
            }
            _ => Lesson::Nothing,
        }
    }

    /// The lesson, as one about the message with this Postern id (its envelope's).
    pub fn for_message(self, postern_id: &str) -> Lesson {
        match self {
            Lesson::Learn { key, tokens, autolearned, .. } => {
                Lesson::Learn { key, tokens, autolearned, message: Some(postern_id.to_owned()) }
            }
            other => other,
        }
    }

    /// [`Lesson::of`], with a panic (a tokenizer bug on one odd message) caught and returned
    /// as its message, so that one training event cannot stop the fold.
    pub fn of_guarded(scope: &str, event: &Event, body: Option<&[u8]>) -> Result<Lesson, LessonPanicked> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Lesson::of(scope, event, body))).map_err(|panic| {
            LessonPanicked(
                crate::score::panic_message(panic.as_ref()).unwrap_or_else(|| "a panic without a message".to_owned()),
            )
        })
    }
}

impl Learner {
    /// Folds one event of `scope`: [`Lesson::of`] then [`Learner::fold`].
    pub fn apply(&mut self, scope: &str, event: &Event, body: Option<&[u8]>) -> Applied {
        self.fold(Lesson::of(scope, event, body))
    }

    /// Applies a lesson: counting only, no parsing (this is what runs under the write lock).
    pub fn fold(&mut self, lesson: Lesson) -> Applied {
        match lesson {
            Lesson::Learn { key, tokens, autolearned, message } => {
                let group: MessageGroup = (key.0.clone(), message.unwrap_or_else(|| format!("digest:{}", key.1)));
                if self.examples.contains_key(&key) {
                    // The same label again; from a person, it is theirs from now on.
                    if !autolearned && self.autolearned.remove(&key) {
                        if let Some(keys) = self.autolearned_of.get_mut(&group) {
                            keys.retain(|k| k != &key);
                        }
                        self.taught_by_people.entry(group).or_default().insert(key);
                    }
                    return Applied::Unchanged;
                }
                if autolearned {
                    // A person has labelled this message already: their label stands.
                    if self.taught_by_people.get(&group).is_some_and(|keys| !keys.is_empty()) {
                        return Applied::Unchanged;
                    }
                } else {
                    // A person's label takes the place of what the scorers taught themselves
                    // from any copy of the message.
                    for earlier in self.autolearned_of.remove(&group).unwrap_or_default() {
                        self.fold(Lesson::Unlearn { key: earlier });
                    }
                }
                Arc::make_mut(self.models.entry(key.0.clone()).or_default()).learn(class_of(key.2), &tokens);
                // Only the hashes are needed to unlearn.
                self.examples.insert(key.clone(), tokens.without_text());
                self.group_of.insert(key.clone(), group.clone());
                if autolearned {
                    self.autolearned.insert(key.clone());
                    self.autolearned_of.entry(group).or_default().push(key);
                } else {
                    self.taught_by_people.entry(group).or_default().insert(key);
                }
                Applied::Learned
            }
            Lesson::Unlearn { key } => {
                self.autolearned.remove(&key);
                if let Some(group) = self.group_of.remove(&key) {
                    if let Some(keys) = self.autolearned_of.get_mut(&group) {
                        keys.retain(|k| k != &key);
                        if keys.is_empty() {
                            self.autolearned_of.remove(&group);
                        }
                    }
                    if let Some(keys) = self.taught_by_people.get_mut(&group) {
                        keys.remove(&key);
                        if keys.is_empty() {
                            self.taught_by_people.remove(&group);
                        }
                    }
                }
                let Some(tokens) = self.examples.remove(&key) else { return Applied::Unchanged };
                let model = Arc::make_mut(self.models.entry(key.0.clone()).or_default());
                let undone = model.unlearn(class_of(key.2), &tokens);
                debug_assert!(undone, "an example held is always in its model");
                Applied::Unlearned
            }
            Lesson::Nothing => Applied::Unchanged,
        }
    }

    /// The models a message of `tenant` is scored with: the shared scope's, then the
    /// tenant's own (their counts add up).
    pub fn models_for(&self, tenant: &str) -> Vec<Arc<TokenModel>> {
        [TRAINING_SHARED_SCOPE, tenant].iter().filter_map(|scope| self.models.get(*scope).cloned()).collect()
    }

    pub fn examples(&self) -> usize {
        self.examples.len()
    }
}

/// The learner as the worker shares it.
pub type SharedLearner = Arc<RwLock<Learner>>;

/// Creates MAIL_TRAINING on `replicas` nodes if it is missing (scorers and `scorer train`
/// both may); an existing one with another replica count is an error.
pub async fn ensure_training_stream(js: &jetstream::Context, replicas: usize) -> Result<stream::Stream, SetupError> {
    crate::ordered::ensure(js, proto::streams::training(replicas), replicas).await
}

/// Folds MAIL_TRAINING from its first event into `learner`, returns once it has folded
/// every event that existed when it started (so scoring starts from complete models), and
/// leaves a task that folds what comes later until the connection closes.
pub async fn follow(
    js: &jetstream::Context,
    learner: SharedLearner,
    replicas: usize,
) -> Result<tokio::task::JoinHandle<()>, SetupError> {
    let mut stream = ensure_training_stream(js, replicas).await?;
    let (last, mut messages) = crate::ordered::from_start(&mut stream, STREAM_TRAINING).await?;
    let bodies = js.get_object_store(proto::subject::BUCKET_RAW_BODIES).await.ok();
    let started = std::time::Instant::now();
    let mut folded = 0u64;
    while folded < last {
        match tokio::time::timeout(Duration::from_secs(30), messages.next()).await {
            Ok(Some(Ok(message))) => folded = fold_one(js, &learner, bodies.as_ref(), message).await,
            Ok(Some(Err(e))) => warn!(error = %e, "reading {STREAM_TRAINING}; retrying"),
            Ok(None) => return Err(SetupError::unavailable(STREAM_TRAINING, "the consumer ended")),
            Err(_) => {
                return Err(SetupError::unavailable(
                    STREAM_TRAINING,
                    format!("no event for 30 s while catching up to {last}"),
                ));
            }
        }
    }
    let examples = learner.read().unwrap_or_else(PoisonError::into_inner).examples();
    info!(events = last, examples, elapsed_ms = started.elapsed().as_millis() as u64, "training events folded");
    let js = js.clone();
    Ok(tokio::spawn(async move {
        while let Some(next) = messages.next().await {
            match next {
                Ok(message) => {
                    fold_one(&js, &learner, bodies.as_ref(), message).await;
                }
                Err(e) => warn!(error = %e, "reading {STREAM_TRAINING}"),
            }
        }
    }))
}

/// Folds one message of MAIL_TRAINING; returns its stream sequence. An event whose
/// envelope names another scope than its subject is not folded but dead-lettered (every
/// scorer's learner files the same dead letter id, which JetStream stores once).
async fn fold_one(
    js: &jetstream::Context,
    learner: &SharedLearner,
    bodies: Option<&jetstream::object_store::ObjectStore>,
    message: jetstream::Message,
) -> u64 {
    let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
    let scope = message.subject.as_str().strip_prefix("mail.training.").unwrap_or("").to_owned();
    match proto::decode(&message.payload) {
        Ok((envelope, _)) if let Err(crossed) = proto::subject::check_subject(&message.subject, &envelope) => {
            dead_letter(js, &message, sequence, crossed.to_string()).await;
        }
        Ok((envelope, event)) => {
            let body = match &event {
                Event::MessageLabelled(MessageLabelled { body: MailBody::Inline(bytes), .. }) => Some(bytes.clone()),
                Event::MessageLabelled(MessageLabelled { body: MailBody::ObjectStore { key, .. }, .. }) => {
                    fetch(bodies, key).await
                }
                _ => None,
            };
            match Lesson::of_guarded(&scope, &event, body.as_deref()) {
                Ok(lesson) => {
                    let lesson = lesson.for_message(envelope.postern_id.as_str());
                    let applied = learner.write().unwrap_or_else(PoisonError::into_inner).fold(lesson);
                    tracing::debug!(sequence, scope, ?applied, "training event folded");
                }
                Err(panic) => {
                    error!(sequence, scope, panic = %panic.0, "reading a training message panicked; the event is skipped")
                }
            }
        }
        Err(e) => dead_letter(js, &message, sequence, format!("undecodable training event: {e}")).await,
    }
    sequence
}

/// Files a training event the learner does not fold as a dead letter (best effort: the
/// event stays in MAIL_TRAINING either way, and is never folded).
async fn dead_letter(js: &jetstream::Context, message: &jetstream::Message, sequence: u64, reason: String) {
    error!(sequence, subject = %message.subject, %reason, "training event not folded; dead-lettering it");
    let letter = proto::publish::DeadLetter {
        stream: STREAM_TRAINING.to_owned(),
        seq: sequence,
        subject: message.subject.to_string(),
        reason,
    };
    if let Err(e) = letter.publish(js, &message.payload, Some(Duration::from_secs(5))).await {
        warn!(sequence, error = %e, "the dead letter was not stored");
    }
}

async fn fetch(bodies: Option<&jetstream::object_store::ObjectStore>, key: &str) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut object = bodies?.get(key).await.ok()?;
    let mut bytes = Vec::new();
    object.read_to_end(&mut bytes).await.ok()?;
    Some(bytes)
}

/// Test builds only: a training message carrying this marker makes tokenizing panic, as a
/// tokenizer bug would.
#[cfg(test)]
mod failpoint {
    pub const TOKENIZE_PANIC: &[u8] = b"X-Postern-Failpoint: tokenize-panic";

    pub fn tokenize(body: &[u8]) {
        if body.windows(TOKENIZE_PANIC.len()).any(|w| w == TOKENIZE_PANIC) {
            panic!("failpoint tokenize-panic");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::MessageLabelled;

    #[test]
    fn a_training_message_that_panics_the_tokenizer_is_skipped_and_the_fold_goes_on() {
        let learner: SharedLearner = Arc::default();
        let poison =
            labelled(TrainingLabel::Spam, "bad", "X-Postern-Failpoint: tokenize-panic\r\nSubject: odd\r\n\r\nbody\r\n");
        let Event::MessageLabelled(MessageLabelled { body: MailBody::Inline(raw), .. }) = &poison else {
            unreachable!()
        };
        let outcome = Lesson::of_guarded("acme", &poison, Some(raw));
        assert_eq!(outcome.unwrap_err().0, "failpoint tokenize-panic");
        // Nothing was held while it panicked: the lock is not poisoned, readers and the next
        // example go on.
        assert!(!learner.is_poisoned());
        let spam = labelled(TrainingLabel::Spam, "d1", "Subject: cheap pills\r\n\r\nbuy now\r\n");
        let Event::MessageLabelled(MessageLabelled { body: MailBody::Inline(raw), .. }) = &spam else { unreachable!() };
        let lesson = Lesson::of_guarded("acme", &spam, Some(raw)).unwrap();
        assert_eq!(learner.write().unwrap().fold(lesson), Applied::Learned);
        assert_eq!(learner.read().unwrap().examples(), 1);
    }

    fn labelled(label: TrainingLabel, digest: &str, raw: &str) -> Event {
        Event::MessageLabelled(MessageLabelled {
            label,
            source: "test".into(),
            content_digest: digest.into(),
            body: MailBody::Inline(raw.as_bytes().to_vec()),
        })
    }

    fn fold(learner: &mut Learner, scope: &str, event: &Event) -> Applied {
        let body = match event {
            Event::MessageLabelled(MessageLabelled { body: MailBody::Inline(b), .. }) => Some(b.clone()),
            _ => None,
        };
        learner.apply(scope, event, body.as_deref())
    }

    #[test]
    fn a_persons_label_takes_the_place_of_an_autolearned_one() {
        let autolearned = |digest: &str, raw: &str| match labelled(TrainingLabel::Spam, digest, raw) {
            Event::MessageLabelled(m) => {
                Event::MessageLabelled(MessageLabelled { source: "autolearn:acme-1".into(), ..m })
            }
            _ => unreachable!(),
        };
        let newsletter = "Subject: our spring catalogue\r\n\r\nnew garden tools in stock\r\n";
        let mut learner = Learner::default();
        let before = Learner::default();
        assert_eq!(fold(&mut learner, "acme", &autolearned("d1", newsletter)), Applied::Learned);
        // An analyst says the copy is wanted: the scorers' own spam label goes, the ham stays.
        let ham = labelled(TrainingLabel::Ham, "d1", newsletter);
        assert_eq!(fold(&mut learner, "acme", &ham), Applied::Learned);
        assert_eq!(learner.examples(), 1);
        let mut only_ham = before;
        fold(&mut only_ham, "acme", &ham);
        assert_eq!(learner.models_for("acme")[0].as_ref(), only_ham.models_for("acme")[0].as_ref());
        // Autolearning the same copy again (a redelivery, a replay) does not undo the person's.
        assert_eq!(fold(&mut learner, "acme", &autolearned("d1", newsletter)), Applied::Unchanged);
        assert_eq!(learner.examples(), 1);
        // A person's label equal to the autolearned one makes it theirs: withdrawing theirs
        // later takes it back, and autolearning it then is allowed again.
        let pills = "Subject: cheap pills\r\n\r\nbuy now\r\n";
        assert_eq!(fold(&mut learner, "acme", &autolearned("d2", pills)), Applied::Learned);
        assert_eq!(fold(&mut learner, "acme", &labelled(TrainingLabel::Spam, "d2", pills)), Applied::Unchanged);
        let withdraw = Event::LabelWithdrawn(LabelWithdrawn {
            label: TrainingLabel::Spam,
            content_digest: "d2".into(),
            reason: "reclassification withdrawn".into(),
        });
        assert_eq!(fold(&mut learner, "acme", &withdraw), Applied::Unlearned);
        assert_eq!(fold(&mut learner, "acme", &autolearned("d2", pills)), Applied::Learned);
    }

    #[test]
    fn a_persons_label_for_one_copy_replaces_what_every_copy_autolearned() {
        let newsletter = "Subject: our spring catalogue\r\n\r\nnew garden tools in stock\r\n";
        let lesson = |label: TrainingLabel, digest: &str, source: &str, message: &str| {
            let event = match labelled(label, digest, newsletter) {
                Event::MessageLabelled(m) => Event::MessageLabelled(MessageLabelled { source: source.into(), ..m }),
                _ => unreachable!(),
            };
            Lesson::of("acme", &event, Some(newsletter.as_bytes())).for_message(message)
        };
        let mut learner = Learner::default();
        // Two journal copies of one message (two envelopes, two digests) were autolearned.
        for copy in ["copy-1", "copy-2"] {
            assert_eq!(learner.fold(lesson(TrainingLabel::Spam, copy, "autolearn:m1", "m1")), Applied::Learned);
        }
        // Another message's autolearned copy stays.
        assert_eq!(learner.fold(lesson(TrainingLabel::Spam, "other", "autolearn:m2", "m2")), Applied::Learned);
        // The analyst's ham, taught under the first copy's digest, replaces both copies'.
        assert_eq!(learner.fold(lesson(TrainingLabel::Ham, "copy-1", "reclassification:s1", "m1")), Applied::Learned);
        assert_eq!(learner.examples(), 2, "the analyst's ham and the other message's spam");
        // A copy autolearned later (a redelivery, a late copy) does not undo it.
        assert_eq!(learner.fold(lesson(TrainingLabel::Spam, "copy-3", "autolearn:m1", "m1")), Applied::Unchanged);
        // Withdrawn, the analyst's label no longer stands in the way.
        let withdrawn = Lesson::of(
            "acme",
            &Event::LabelWithdrawn(LabelWithdrawn {
                label: TrainingLabel::Ham,
                content_digest: "copy-1".into(),
                reason: "reclassification withdrawn".into(),
            }),
            None,
        );
        assert_eq!(learner.fold(withdrawn), Applied::Unlearned);
        assert_eq!(learner.fold(lesson(TrainingLabel::Spam, "copy-3", "autolearn:m1", "m1")), Applied::Learned);
    }

    #[test]
    fn learns_once_and_unlearns_exactly() {
        let mut learner = Learner::default();
        let spam = labelled(TrainingLabel::Spam, "d1", "Subject: cheap pills\r\n\r\nbuy now\r\n");
        assert_eq!(fold(&mut learner, "acme", &spam), Applied::Learned);
        let after_one = learner.models_for("acme")[0].as_ref().clone();
        assert_eq!(fold(&mut learner, "acme", &spam), Applied::Unchanged, "the same example teaches once");
        assert_eq!(learner.models_for("acme")[0].as_ref(), &after_one);
        let ham = labelled(TrainingLabel::Ham, "d2", "Subject: agenda\r\n\r\nmeeting\r\n");
        assert_eq!(fold(&mut learner, "acme", &ham), Applied::Learned);
        let withdraw = Event::LabelWithdrawn(LabelWithdrawn {
            label: TrainingLabel::Ham,
            content_digest: "d2".into(),
            reason: "test".into(),
        });
        assert_eq!(fold(&mut learner, "acme", &withdraw), Applied::Unlearned);
        assert_eq!(learner.models_for("acme")[0].as_ref(), &after_one, "withdrawal restores the model");
        assert_eq!(fold(&mut learner, "acme", &withdraw), Applied::Unchanged);
        assert_eq!(learner.examples(), 1);
    }

    #[test]
    fn scopes_stay_apart_and_the_shared_scope_adds() {
        let mut learner = Learner::default();
        fold(&mut learner, "acme", &labelled(TrainingLabel::Spam, "d1", "Subject: a\r\n\r\nb\r\n"));
        fold(&mut learner, TRAINING_SHARED_SCOPE, &labelled(TrainingLabel::Ham, "d2", "Subject: c\r\n\r\nd\r\n"));
        assert_eq!(learner.models_for("acme").len(), 2);
        assert_eq!(learner.models_for("other").len(), 1, "another tenant sees only the shared scope");
        assert_eq!(learner.models_for("other")[0].messages(Class::Spam), 0);
    }
}
