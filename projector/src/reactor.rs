//! The reactor: what a reclassification causes, derived from the events.
//!
//! An accepted reclassification teaches the scorers' classifier (a `MessageLabelled` on
//! MAIL_TRAINING) and, when the tenant's policy says so, moves the message out of every
//! inbox (a `RemediationRequested`); a withdrawn or superseded one takes its label back
//! (`LabelWithdrawn`). None of that happens in the HTTP handler: the reactor follows
//! `mail.reclassification.>` on its own durable consumer (one per shard), waits until the
//! views hold the decision, derives the reactions with the pure [`react`], and publishes
//! them. A failed publish is retried, with backoff, until it succeeds; the decision is
//! acknowledged only after its last reaction was, so a restart resumes where it stopped.
//!
//! Deterministic: a reaction's event id (the `Nats-Msg-Id`) and a remediation's id are
//! derived from the decision's event id, and what the reactions are depends only on the
//! message's events up to the decision (its stream position), so a redelivered or replayed
//! decision yields the same reactions, which JetStream's duplicate window and the
//! remediator's record of done mailboxes take once. The consumer delivers one decision at a
//! time, so a message's reactions are published in the order of its decisions (a label is
//! withdrawn before the next is taught).

use crate::shard::Shard;
use crate::view::message::{MessageRecord, Resolution};
use crate::views::SharedStore;
use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use proto::policy::TenantPolicy;
use proto::subject::{CONSUMER_REACTOR, RECLASSIFICATION_SUBJECTS, STREAM_EVENTS};
use proto::{
    DecidedRemediation, Disposition, Envelope, Event, LabelWithdrawn, MailBody, MessageLabelled,
    ReclassificationOutcome, ReclassificationResolved, RemediationRequested, Timestamp, TrainingLabel,
};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

pub const PRODUCER: &str = concat!("projector-reactor/", env!("CARGO_PKG_VERSION"));

/// What an accepted reclassification teaches the scorers' classifier: SPAM teaches spam,
/// MALICIOUS and SUSPICIOUS phishing, NONE ham, BULK bulk (wanted mail, weighed lightly);
/// SPOOF (an authentication matter, not a matter of content) nothing.
pub fn training_label(disposition: Disposition) -> Option<TrainingLabel> {
    match disposition {
        Disposition::Spam => Some(TrainingLabel::Spam),
        Disposition::Malicious | Disposition::Suspicious => Some(TrainingLabel::Phish),
        Disposition::None => Some(TrainingLabel::Ham),
        Disposition::Bulk => Some(TrainingLabel::Bulk),
        Disposition::Spoof => None,
    }
}

/// The decision a reaction answers: a `ReclassificationResolved` and where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub event_id: ulid::Ulid,
    /// Its MAIL_EVENTS sequence: the reactions depend on the message's events up to here.
    pub seq: u64,
    pub resolved: ReclassificationResolved,
}

/// One thing to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Reaction {
    /// Take back what the message taught under `label`.
    Withdraw { event_id: ulid::Ulid, label: TrainingLabel, content_digest: String, reason: String },
    /// Teach the message (read back from MAIL_RAW at `raw_seq`) as `label`.
    Teach { event_id: ulid::Ulid, label: TrainingLabel, content_digest: String, raw_seq: u64, source: String },
    /// Move the message in every recipient's mailbox.
    Remediate { event_id: ulid::Ulid, request: RemediationRequested },
}

impl Reaction {
    pub fn event_id(&self) -> ulid::Ulid {
        match self {
            Reaction::Withdraw { event_id, .. }
            | Reaction::Teach { event_id, .. }
            | Reaction::Remediate { event_id, .. } => *event_id,
        }
    }
}

/// The reactions of one decision, and what the API tells about them.
#[derive(Debug, Clone, PartialEq)]
pub struct Reactions {
    pub reactions: Vec<Reaction>,
    /// Why the classifier learns nothing new, when it does not.
    pub untaught: Option<String>,
}

/// An id of its own for each reaction of a decision ([`proto::ids::derive_event_id`]: the
/// decision's time, a hash of its id and the reaction's kind).
pub fn derived_id(decision: ulid::Ulid, kind: &str) -> ulid::Ulid {
    proto::ids::derive_event_id(decision, &format!("reaction/{kind}"))
}

/// The accepted reclassification in force among the message's decisions read at or before
/// MAIL_EVENTS sequence `through`: the latest accepted one not withdrawn since.
fn accepted_in_force(record: &MessageRecord, through: u64) -> Option<&Resolution> {
    let upto = |r: &&Resolution| r.stamp.position.stream == STREAM_EVENTS && r.stamp.position.seq <= through;
    let latest_of =
        |submission_id: &str| record.resolutions.iter().filter(upto).rfind(|r| r.submission_id == submission_id);
    record
        .resolutions
        .iter()
        .filter(upto)
        .rev()
        .filter(|r| r.outcome == ReclassificationOutcome::Accepted)
        .find(|r| latest_of(&r.submission_id).is_some_and(|l| l.outcome == ReclassificationOutcome::Accepted))
}

/// What the message teaches through reclassifications at sequence `through`.
fn label_in_force(record: &MessageRecord, through: u64) -> Option<TrainingLabel> {
    accepted_in_force(record, through).and_then(|r| training_label(r.final_disposition))
}

/// The reactions to `decision` on the message `record` (folded at least up to the
/// decision). Which label is in force before and after it comes from the message's
/// decisions up to it (by stream position, whatever was folded since); the copy taught,
/// the mailboxes and whether the remediation was already requested come from the record.
/// Pure: the same record, decision and policy give the same reactions, ids included.
///
/// - Training follows the label in force: when the decision changes it, the old label is
///   withdrawn and the new one taught (accepting PHISH, then SPAM: withdraw phishing, teach
///   spam; withdrawing the only accepted one: withdraw its label).
/// - An accepted decision that carries a post-delivery action (the one the tenant's policy
///   named when it was decided) requests it in every recipient's mailbox, unless the
///   message already has that request. A decision of schema 1, which carries none, takes
///   the action `policy` (the tenant's current one) names for its disposition.
pub fn react(record: &MessageRecord, decision: &Decision, policy: Option<&TenantPolicy>) -> Reactions {
    let resolved = &decision.resolved;
    let before = label_in_force(record, decision.seq.saturating_sub(1));
    let after = label_in_force(record, decision.seq);
    let mut reactions = Vec::new();
    let mut untaught = None;
    let copy = record.copies.first();
    if before != after {
        match copy {
            None => untaught = Some("no copy of the message was received".to_owned()),
            Some(copy) => {
                if let Some(label) = before {
                    let why =
                        if resolved.outcome == ReclassificationOutcome::Withdrawn { "withdrawn" } else { "superseded" };
                    reactions.push(Reaction::Withdraw {
                        event_id: derived_id(decision.event_id, "withdraw"),
                        label,
                        content_digest: copy.content_digest.clone(),
                        reason: format!("reclassification {} {why}", resolved.submission_id),
                    });
                }
                if let Some(label) = after {
                    reactions.push(Reaction::Teach {
                        event_id: derived_id(decision.event_id, "teach"),
                        label,
                        content_digest: copy.content_digest.clone(),
                        raw_seq: copy.position.seq,
                        source: format!("reclassification:{}", resolved.submission_id),
                    });
                }
            }
        }
    } else if resolved.outcome == ReclassificationOutcome::Accepted {
        untaught = Some(match training_label(resolved.final_disposition) {
            None => format!("{} teaches the classifier nothing", resolved.final_disposition.as_str()),
            Some(label) => format!("the message already teaches {}", label.as_str()),
        });
    }
    if resolved.outcome == ReclassificationOutcome::Accepted
        && let Some(request) = remediation(record, decision, policy)
    {
        reactions.push(Reaction::Remediate { event_id: derived_id(decision.event_id, "remediate-event"), request });
    }
    // A withdrawal that carries a release (the tenant's policy, when it was decided).
    if resolved.outcome == ReclassificationOutcome::Withdrawn
        && resolved.remediation == DecidedRemediation::Act(proto::RemediationAction::Restore)
    {
        let remediation_id = derived_id(decision.event_id, "release").to_string();
        let reason = format!("released: reclassification {} withdrawn", resolved.submission_id);
        if !record.remediations.iter().any(|r| r.remediation_id == remediation_id)
            && let Ok(request) = crate::release::plan(record, &remediation_id, reason)
        {
            reactions.push(Reaction::Remediate { event_id: derived_id(decision.event_id, "release-event"), request });
        }
    }
    Reactions { reactions, untaught }
}

/// The remediation an accepted decision asks for: the action it carries (or, for a decision
/// of schema 1, the one `policy` names for its disposition).
fn remediation(
    record: &MessageRecord,
    decision: &Decision,
    policy: Option<&TenantPolicy>,
) -> Option<RemediationRequested> {
    let disposition = decision.resolved.final_disposition;
    let action = match decision.resolved.remediation {
        DecidedRemediation::Act(action) => action,
        DecidedRemediation::Nothing => return None,
        DecidedRemediation::NotRecorded => policy?.actions.get(disposition.as_str())?.remediation()?,
    };
    let message_id = record.message_id.as_deref().filter(|m| !m.trim().is_empty())?;
    let remediation_id = derived_id(decision.event_id, "remediation").to_string();
    let reason =
        format!("final disposition {} (reclassification {})", disposition.as_str(), decision.resolved.submission_id);
    // Requested already (a replay after JetStream's duplicate window; or, before the
    // reactor, by the API itself with the same reason).
    if record.remediations.iter().any(|r| r.remediation_id == remediation_id || r.reason == reason) {
        return None;
    }
    Some(RemediationRequested {
        remediation_id,
        message_id: format!("<{}>", message_id.trim().trim_matches(['<', '>'])),
        action,
        mailboxes: record.recipients(),
        reason,
        requested_by: None,
        client_addr: None,
    })
}

/// What the API tells about a decision's reactions once they are published.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub training: Option<serde_json::Value>,
    pub remediation: Option<serde_json::Value>,
}

impl Report {
    fn of(reactions: &Reactions) -> Report {
        let withdrew = reactions.reactions.iter().find_map(|r| match r {
            Reaction::Withdraw { label, .. } => Some(*label),
            _ => None,
        });
        let taught = reactions.reactions.iter().find_map(|r| match r {
            Reaction::Teach { label, .. } => Some(*label),
            _ => None,
        });
        let training = match (taught, withdrew) {
            (Some(label), withdrew) => Some(json!({
                "taught": true, "label": label.as_str(), "withdrawn": false,
                "withdrew": withdrew.map(|l| l.as_str()),
            })),
            (None, Some(label)) => Some(json!({ "taught": true, "label": label.as_str(), "withdrawn": true })),
            (None, None) => reactions.untaught.as_ref().map(|reason| json!({ "taught": false, "reason": reason })),
        };
        let remediation = reactions.reactions.iter().find_map(|r| match r {
            Reaction::Remediate { request, .. } => Some(json!({
                "remediation_id": request.remediation_id,
                "action": request.action.as_str(),
                "mailboxes": request.mailboxes,
            })),
            _ => None,
        });
        Report { training, remediation }
    }

    /// What the API answers when the reactions are not published within its wait.
    pub fn pending(reason: &str) -> Report {
        Report {
            training: Some(json!({ "taught": false, "pending": true, "reason": reason })),
            remediation: Some(json!({ "pending": true, "reason": reason })),
        }
    }
}

/// The reports of recently published decisions, for the API to wait on (in memory: the
/// reactions themselves are in the streams).
#[derive(Debug, Default)]
pub struct Reports {
    done: Mutex<(HashMap<ulid::Ulid, Report>, VecDeque<ulid::Ulid>)>,
    published: tokio::sync::Notify,
    /// Why the latest attempt failed, per decision, while it is retried.
    failing: Mutex<HashMap<ulid::Ulid, String>>,
}

/// Reports kept for the API.
const REPORTS_KEPT: usize = 4096;

impl Reports {
    fn record(&self, decision: ulid::Ulid, report: Report) {
        {
            let mut done = self.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (map, order) = &mut *done;
            if map.insert(decision, report).is_none() {
                order.push_back(decision);
            }
            while order.len() > REPORTS_KEPT {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
        self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&decision);
        self.published.notify_waiters();
    }

    fn failed(&self, decision: ulid::Ulid, reason: String) {
        self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(decision, reason);
    }

    fn get(&self, decision: &ulid::Ulid) -> Option<Report> {
        self.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.get(decision).cloned()
    }

    /// The report of `decision`, waiting up to `wait` for it; when it does not come, a
    /// pending report with the latest failure.
    pub async fn wait(&self, decision: ulid::Ulid, wait: Duration) -> Report {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.published.notified();
            if let Some(report) = self.get(&decision) {
                return report;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let failing =
                    self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&decision).cloned();
                return Report::pending(&match failing {
                    Some(reason) => format!("not yet published ({reason}); the reactor retries until it is"),
                    None => "not yet published; the reactor publishes it when the decision reaches it".to_owned(),
                });
            }
        }
    }
}

/// Why one decision's reactions could not be published now.
#[derive(Debug, thiserror::Error)]
enum ReactError {
    /// Worth trying again (NATS, JetStream, the views closed for a moment).
    #[error("{0}")]
    Retry(String),
}

/// The durable consumer's name for a shard.
pub fn consumer_name(shard: Option<&Shard>) -> String {
    match shard {
        None => CONSUMER_REACTOR.to_owned(),
        // `2/4` -> `projector-reactor-2-of-4` (a consumer name has no `/`).
        Some(s) => format!("{CONSUMER_REACTOR}-{}", s.to_string().replace('/', "-of-")),
    }
}

/// How often a decision being worked on is reported in progress (well within `ack_wait`).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Pauses between attempts at a decision whose reactions failed: doubling to the last.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Follows reclassification decisions until `stop`, publishing their reactions.
pub async fn run(
    js: jetstream::Context,
    views: std::sync::Arc<SharedStore>,
    shard: Option<Shard>,
    replicas: usize,
    reports: std::sync::Arc<Reports>,
    stop: CancellationToken,
) {
    let name = consumer_name(shard.as_ref());
    let mut pause = RETRY_FIRST;
    loop {
        let consumer = tokio::select! {
            c = consumer(&js, &name, replicas) => c,
            _ = stop.cancelled() => return,
        };
        let mut messages = match consumer {
            Ok(c) => match c.messages().await {
                Ok(m) => m,
                Err(e) => {
                    warn!(consumer = %name, error = %e, "cannot read decisions; retrying");
                    if sleep_or_stop(Duration::from_secs(1), &stop).await {
                        return;
                    }
                    continue;
                }
            },
            Err(e) => {
                warn!(consumer = %name, error = %e, "reactor consumer not ready; retrying");
                if sleep_or_stop(Duration::from_secs(2), &stop).await {
                    return;
                }
                continue;
            }
        };
        info!(consumer = %name, "reacting to reclassification decisions");
        loop {
            let next = tokio::select! {
                m = messages.next() => m,
                _ = stop.cancelled() => return,
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    warn!(error = %e, "reactor consumer error; reconnecting");
                    break;
                }
                None => break,
            };
            let Ok(seq) = message.info().map(|i| i.stream_sequence) else {
                warn!("a message without JetStream metadata: acknowledged, nothing to react to");
                message.ack().await.ok();
                continue;
            };
            let (envelope, event) = match proto::decode(&message.payload) {
                Ok(decoded) => decoded,
                Err(e) => {
                    error!(seq, error = %e, "an undecodable event on a reclassification subject: nothing to react to");
                    message.ack().await.ok();
                    continue;
                }
            };
            if let Err(crossed) = proto::subject::check_subject(&message.subject, &envelope) {
                // Not a decision of the tenant it names: the fold dead-letters it too.
                error!(seq, reason = %crossed, "nothing to react to");
                message.ack().await.ok();
                continue;
            }
            let Event::ReclassificationResolved(resolved) = event else {
                message.ack().await.ok();
                continue;
            };
            if shard.as_ref().is_some_and(|s| !s.holds(envelope.tenant.as_str())) {
                message.ack().await.ok();
                continue;
            }
            let decision = Decision { event_id: envelope.event_id, seq, resolved };
            let span = info_span!("react", postern_id = %envelope.postern_id, tenant = %envelope.tenant, submission_id = %decision.resolved.submission_id, seq);
            let work = react_to(&js, &views, &envelope, &decision, &stop).instrument(span.clone());
            tokio::pin!(work);
            // While it waits for the views (a fold that cannot write, say), the decision is
            // kept: JetStream is told it is in progress, not redelivered.
            let mut in_progress =
                tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
            let outcome = loop {
                tokio::select! {
                    r = &mut work => break r,
                    _ = in_progress.tick() => {
                        message.ack_with(AckKind::Progress).await.ok();
                    }
                    _ = stop.cancelled() => {
                        // Stopping mid-way: hand the decision back at once rather than after
                        // the acknowledgement wait (what was published is published again
                        // with the same ids).
                        message.ack_with(AckKind::Nak(None)).await.ok();
                        return;
                    }
                }
            };
            match outcome {
                Ok(report) => {
                    if let Err(e) = message.double_ack().await {
                        // Published, not acknowledged: the redelivery publishes the same ids.
                        warn!(parent: &span, error = %e, "reactions published; the acknowledgement was not confirmed");
                    }
                    reports.record(decision.event_id, report);
                    pause = RETRY_FIRST;
                }
                Err(ReactError::Retry(reason)) => {
                    warn!(parent: &span, error = %reason, retry_in = ?pause, "reactions not published; retrying");
                    reports.failed(decision.event_id, reason);
                    message.ack_with(AckKind::Nak(Some(pause))).await.ok();
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
        }
        if sleep_or_stop(Duration::from_secs(1), &stop).await {
            return;
        }
    }
}

async fn sleep_or_stop(pause: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(pause) => false,
        _ = stop.cancelled() => true,
    }
}

/// The reactor's durable consumer: decisions one at a time, in order, from the first.
async fn consumer(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
) -> Result<jetstream::consumer::Consumer<pull::Config>, ReactError> {
    let stream =
        js.get_stream(STREAM_EVENTS).await.map_err(|e| ReactError::Retry(format!("stream {STREAM_EVENTS}: {e}")))?;
    stream
        .get_or_create_consumer(
            name,
            pull::Config {
                durable_name: Some(name.to_owned()),
                description: Some("Postern projector: reactions to reclassification decisions".to_owned()),
                filter_subject: RECLASSIFICATION_SUBJECTS.to_owned(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                // A process killed mid-decision holds it this long; a redelivery while it
                // still works publishes the same ids again.
                ack_wait: Duration::from_secs(30),
                // One at a time: a message's reactions follow its decisions' order.
                max_ack_pending: 1,
                num_replicas: replicas,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ReactError::Retry(format!("consumer {name}: {e}")))
}

/// Waits until the views hold the decision, derives its reactions and publishes them.
async fn react_to(
    js: &jetstream::Context,
    views: &SharedStore,
    envelope: &Envelope,
    decision: &Decision,
    stop: &CancellationToken,
) -> Result<Report, ReactError> {
    let tenant = envelope.tenant.as_str();
    let postern_id = envelope.postern_id.as_str();
    let record = loop {
        let store = views.get().map_err(|e| ReactError::Retry(e.to_string()))?;
        let folded = store.checkpoint(STREAM_EVENTS).map_err(|e| ReactError::Retry(e.to_string()))?;
        if folded >= decision.seq {
            break crate::query::by_postern_id(&store, tenant, postern_id)
                .map_err(|e| ReactError::Retry(e.to_string()))?;
        }
        drop(store);
        if sleep_or_stop(Duration::from_millis(20), stop).await {
            return Err(ReactError::Retry("stopping".to_owned()));
        }
    };
    let Some(record) = record else {
        warn!("the views hold no such message: nothing to react to");
        return Ok(Report { training: None, remediation: None });
    };
    // Only a decision from before schema 2 needs today's policy: the others carry the
    // action of theirs.
    let policy = if decision.resolved.outcome == ReclassificationOutcome::Accepted
        && decision.resolved.remediation == DecidedRemediation::NotRecorded
    {
        tenant_policy(js, tenant).await.map_err(|e| ReactError::Retry(e.to_string()))?
    } else {
        None
    };
    let mut reactions = react(&record, decision, policy.as_ref());
    let mut published = Vec::new();
    for reaction in &reactions.reactions {
        let event = match reaction {
            Reaction::Withdraw { label, content_digest, reason, .. } => Event::LabelWithdrawn(LabelWithdrawn {
                label: *label,
                content_digest: content_digest.clone(),
                reason: reason.clone(),
            }),
            Reaction::Teach { label, content_digest, raw_seq, source, .. } => {
                match crate::raw::fetch(js, *raw_seq).await {
                    Ok(bytes) => Event::MessageLabelled(MessageLabelled {
                        label: *label,
                        source: source.clone(),
                        content_digest: content_digest.clone(),
                        body: MailBody::Inline(bytes),
                    }),
                    Err(crate::raw::RawError::Gone(reason)) => {
                        warn!(reason, "the message is no longer stored: the label cannot be taught");
                        reactions.untaught = Some(format!("the message is no longer stored: {reason}"));
                        continue;
                    }
                    Err(crate::raw::RawError::Unavailable(reason)) => return Err(ReactError::Retry(reason)),
                }
            }
            Reaction::Remediate { request, .. } => Event::RemediationRequested(request.clone()),
        };
        publish(js, envelope, decision.event_id, reaction.event_id(), event).await?;
        published.push(reaction.clone());
        info!(reaction = ?kind(reaction), event_id = %reaction.event_id(), "published");
    }
    reactions.reactions = published;
    Ok(Report::of(&reactions))
}

fn kind(reaction: &Reaction) -> &'static str {
    match reaction {
        Reaction::Withdraw { .. } => "withdraw label",
        Reaction::Teach { .. } => "teach label",
        Reaction::Remediate { .. } => "request remediation",
    }
}

/// Publishes one reaction with its derived id as `Nats-Msg-Id`, caused by the decision.
async fn publish(
    js: &jetstream::Context,
    decision: &Envelope,
    caused_by: ulid::Ulid,
    event_id: ulid::Ulid,
    event: Event,
) -> Result<(), ReactError> {
    let event_type = event.event_type();
    let envelope = Envelope {
        event_id,
        event_type,
        schema: event_type.current_schema(),
        postern_id: decision.postern_id.clone(),
        tenant: decision.tenant.clone(),
        causation_id: Some(caused_by),
        occurred_at: Timestamp::now(),
        producer: PRODUCER.to_owned(),
    };
    proto::publish::publish(js, &envelope, &event, Some(PUBLISH_WITHIN))
        .await
        .map_err(|e| ReactError::Retry(e.to_string()))?;
    Ok(())
}

/// How long one reaction's publish may wait for its PubAck before it counts as failed.
const PUBLISH_WITHIN: Duration = Duration::from_secs(10);

/// MAIL_TRAINING, as the scorers create it (the reactor may publish before any scorer ran), on
/// `replicas` nodes; an existing one with another replica count is an error. The projector
/// ensures it once at start ([`crate::run`]).
pub async fn ensure_training_stream(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<(), crate::error::StreamSetupError> {
    let stream = js.get_or_create_stream(proto::streams::training(replicas)).await.map_err(|e| {
        crate::error::StreamSetupError::Nats { stream: proto::subject::STREAM_TRAINING, reason: e.to_string() }
    })?;
    proto::cluster::check_stream_replicas(
        proto::subject::STREAM_TRAINING,
        stream.cached_info().config.num_replicas,
        replicas,
    )?;
    Ok(())
}

/// The tenant's policy could not be read (JetStream did not answer): worth trying again.
#[derive(Debug, thiserror::Error)]
#[error("the tenant's policy could not be read: {0}")]
pub struct PolicyUnavailable(String);

/// The tenant's policy as stored (KV bucket POSTERN_POLICIES, JSON). No bucket or no key:
/// no policy. A value this build cannot read is logged and taken as no policy.
pub async fn tenant_policy(js: &jetstream::Context, tenant: &str) -> Result<Option<TenantPolicy>, PolicyUnavailable> {
    use async_nats::jetstream::context::GetStreamErrorKind;
    // No bucket: no tenant has a policy yet.
    match js.get_stream(format!("KV_{}", proto::subject::BUCKET_POLICIES)).await {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(j) if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(PolicyUnavailable(format!("policy bucket: {e}"))),
    }
    let kv = js
        .get_key_value(proto::subject::BUCKET_POLICIES)
        .await
        .map_err(|e| PolicyUnavailable(format!("policy bucket: {e}")))?;
    let bytes = match kv.get(tenant).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(e) => return Err(PolicyUnavailable(format!("the tenant's policy: {e}"))),
    };
    match serde_json::from_slice(&bytes) {
        Ok(policy) => Ok(Some(policy)),
        Err(e) => {
            error!(tenant, error = %e, "the tenant's stored policy is not readable; acting as if it had none");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    //! Given a message's events (folded as the projector folds them), when a decision is
    //! read at its stream position, then these reactions.
    use super::*;
    use crate::view::message::Position;
    use proto::*;
    use ulid::Ulid;

    const MESSAGE_ID: &str = "m@corp.example";

    fn envelope(event: &Event, n: u64) -> Envelope {
        let tenant = TenantId::new("acme").unwrap();
        Envelope {
            event_id: Ulid::from_parts(1_000 + n, u128::from(n)),
            event_type: event.event_type(),
            schema: event.event_type().current_schema(),
            postern_id: PosternId::from_message_id(&tenant, MESSAGE_ID),
            tenant,
            causation_id: None,
            occurred_at: Timestamp(1_000 + n),
            producer: "test".into(),
        }
    }

    /// A message's events, folded; `decisions` are at MAIL_EVENTS sequences 10, 11, ...
    struct Given {
        record: MessageRecord,
        events_seq: u64,
    }

    impl Given {
        fn received_and_scored(scored: Disposition) -> Given {
            let mut record = MessageRecord::new("acme", "pid");
            let raw = Event::RawMailReceived(RawMailReceived {
                envelope_sender: "a@x.example".into(),
                envelope_recipients: vec!["journal@postern.localhost".into()],
                original_sender: None,
                original_recipients: vec!["alice@corp.example".into(), "bob@corp.example".into()],
                message_id: Some(MESSAGE_ID.into()),
                client_addr: "127.0.0.1:1".into(),
                helo: "h".into(),
                tls: false,
                size: 3,
                received_at: Timestamp(1_000),
                journal_format: JournalFormat::PlainBcc,
                unwrap_problem: None,
                gmail_spam: None,
                gmail_phishy: None,
                content_digest: "digest-1".into(),
                body: MailBody::Inline(b"x".to_vec()),
            });
            record.apply(&envelope(&raw, 0), &raw, Position { stream: "MAIL_RAW".into(), seq: 7 });
            let scored = Event::DispositionAssigned(DispositionAssigned {
                disposition: scored,
                attributes: vec![],
                detections: vec![],
                rules_version: "r".into(),
                alert_id: "a".into(),
                postern_id: record_pid(),
                headers: HeaderSummary::default(),
            });
            record.apply(&envelope(&scored, 1), &scored, Position { stream: STREAM_EVENTS.into(), seq: 9 });
            Given { record, events_seq: 9 }
        }

        fn fold(&mut self, event: Event) -> Decision {
            self.events_seq += 1;
            let env = envelope(&event, self.events_seq);
            self.record.apply(&env, &event, Position { stream: STREAM_EVENTS.into(), seq: self.events_seq });
            let resolved = match event {
                Event::ReclassificationResolved(r) => r,
                _ => ReclassificationResolved {
                    submission_id: String::new(),
                    outcome: ReclassificationOutcome::Rejected,
                    resolved_by: String::new(),
                    final_disposition: Disposition::None,
                    comment: String::new(),
                    remediation: DecidedRemediation::Nothing,
                    client_addr: None,
                },
            };
            Decision { event_id: env.event_id, seq: self.events_seq, resolved }
        }

        fn submitted(&mut self, id: &str, requested: Disposition) {
            self.fold(Event::ReclassificationSubmitted(ReclassificationSubmitted {
                submission_id: id.into(),
                submission_type: SubmissionType::Team,
                requested_by: "ann".into(),
                original: Disposition::None,
                requested,
                comment: String::new(),
                client_addr: None,
            }));
        }

        /// A decision as a build before schema 2 wrote it: no action recorded.
        fn resolved(&mut self, id: &str, outcome: ReclassificationOutcome, final_disposition: Disposition) -> Decision {
            self.resolved_with(id, outcome, final_disposition, DecidedRemediation::NotRecorded)
        }

        fn resolved_with(
            &mut self,
            id: &str,
            outcome: ReclassificationOutcome,
            final_disposition: Disposition,
            remediation: DecidedRemediation,
        ) -> Decision {
            self.fold(Event::ReclassificationResolved(ReclassificationResolved {
                submission_id: id.into(),
                outcome,
                resolved_by: "ann".into(),
                final_disposition,
                comment: String::new(),
                remediation,
                client_addr: None,
            }))
        }

        fn accepted(&mut self, id: &str, disposition: Disposition) -> Decision {
            self.submitted(id, disposition);
            self.resolved(id, ReclassificationOutcome::Accepted, disposition)
        }
    }

    fn record_pid() -> PosternId {
        PosternId::from_message_id(&TenantId::new("acme").unwrap(), MESSAGE_ID)
    }

    fn quarantine_malicious() -> TenantPolicy {
        let mut policy = TenantPolicy::default();
        policy.actions.insert("MALICIOUS".into(), proto::policy::Action::Quarantine);
        policy
    }

    fn labels(reactions: &Reactions) -> Vec<String> {
        reactions
            .reactions
            .iter()
            .map(|r| match r {
                Reaction::Withdraw { label, .. } => format!("withdraw {}", label.as_str()),
                Reaction::Teach { label, raw_seq, .. } => format!("teach {} from {raw_seq}", label.as_str()),
                Reaction::Remediate { request, .. } => {
                    format!("{} {}", request.action.as_str(), request.mailboxes.join(","))
                }
            })
            .collect()
    }

    #[test]
    fn an_accepted_reclassification_teaches_its_label_and_requests_the_policy_action() {
        let mut given = Given::received_and_scored(Disposition::None);
        let decision = given.accepted("s1", Disposition::Malicious);
        let reactions = react(&given.record, &decision, Some(&quarantine_malicious()));
        assert_eq!(
            labels(&reactions),
            ["teach phish from 7", "quarantine alice@corp.example,bob@corp.example"],
            "{reactions:?}"
        );
        let Reaction::Remediate { request, .. } = &reactions.reactions[1] else { unreachable!() };
        assert_eq!(request.message_id, "<m@corp.example>");
        assert_eq!(request.reason, "final disposition MALICIOUS (reclassification s1)");
    }

    #[test]
    fn a_decision_requests_the_action_it_carries_whatever_the_policy_says_now() {
        let mut given = Given::received_and_scored(Disposition::None);
        given.submitted("s1", Disposition::Malicious);
        let junk = DecidedRemediation::Act(RemediationAction::MoveToJunk);
        let decision = given.resolved_with("s1", ReclassificationOutcome::Accepted, Disposition::Malicious, junk);
        let moved = ["teach phish from 7", "move_to_junk alice@corp.example,bob@corp.example"];
        assert_eq!(labels(&react(&given.record, &decision, None)), moved, "the policy is gone by now");
        assert_eq!(labels(&react(&given.record, &decision, Some(&quarantine_malicious()))), moved, "or says otherwise");

        let mut given = Given::received_and_scored(Disposition::None);
        given.submitted("s1", Disposition::Malicious);
        let nothing = DecidedRemediation::Nothing;
        let decision = given.resolved_with("s1", ReclassificationOutcome::Accepted, Disposition::Malicious, nothing);
        assert_eq!(
            labels(&react(&given.record, &decision, Some(&quarantine_malicious()))),
            ["teach phish from 7"],
            "the policy named no action when it was decided"
        );
    }

    #[test]
    fn a_withdrawal_that_carries_a_release_puts_back_what_the_acceptance_moved() {
        let mut given = Given::received_and_scored(Disposition::None);
        let accepted = given.accepted("s1", Disposition::Malicious);
        let Some(Reaction::Remediate { request, .. }) =
            react(&given.record, &accepted, Some(&quarantine_malicious())).reactions.into_iter().nth(1)
        else {
            panic!("no quarantine")
        };
        given.fold(Event::RemediationRequested(request));
        assert!(crate::release::moved_by_submission(&given.record, "s1"));
        let release = DecidedRemediation::Act(RemediationAction::Restore);
        let withdrawn = given.resolved_with("s1", ReclassificationOutcome::Withdrawn, Disposition::None, release);
        let reactions = react(&given.record, &withdrawn, None);
        assert_eq!(labels(&reactions), ["withdraw phish", "restore alice@corp.example,bob@corp.example"]);
        let Reaction::Remediate { request, .. } = &reactions.reactions[1] else { unreachable!() };
        assert_eq!(request.reason, "released: reclassification s1 withdrawn");
        // Without the release in the decision, the withdrawal only takes the label back.
        let mut given = Given::received_and_scored(Disposition::None);
        given.accepted("s1", Disposition::Malicious);
        let plain = given.resolved("s1", ReclassificationOutcome::Withdrawn, Disposition::None);
        assert_eq!(labels(&react(&given.record, &plain, None)), ["withdraw phish"]);
    }

    #[test]
    fn without_a_policy_action_nothing_is_moved() {
        let mut given = Given::received_and_scored(Disposition::None);
        let decision = given.accepted("s1", Disposition::Spam);
        assert_eq!(labels(&react(&given.record, &decision, Some(&quarantine_malicious()))), ["teach spam from 7"]);
        assert_eq!(labels(&react(&given.record, &decision, None)), ["teach spam from 7"]);
    }

    #[test]
    fn a_relabel_withdraws_the_first_label_before_teaching_the_second() {
        let mut given = Given::received_and_scored(Disposition::None);
        given.accepted("s1", Disposition::Malicious);
        let second = given.accepted("s2", Disposition::Spam);
        let reactions = react(&given.record, &second, None);
        assert_eq!(labels(&reactions), ["withdraw phish", "teach spam from 7"]);
        let Reaction::Withdraw { reason, content_digest, .. } = &reactions.reactions[0] else { unreachable!() };
        assert_eq!((reason.as_str(), content_digest.as_str()), ("reclassification s2 superseded", "digest-1"));
    }

    #[test]
    fn the_same_label_again_teaches_nothing_new() {
        let mut given = Given::received_and_scored(Disposition::None);
        given.accepted("s1", Disposition::Malicious);
        let second = given.accepted("s2", Disposition::Suspicious);
        let reactions = react(&given.record, &second, None);
        assert!(reactions.reactions.is_empty(), "{reactions:?}");
        assert_eq!(reactions.untaught.as_deref(), Some("the message already teaches phish"));
    }

    #[test]
    fn spoof_teaches_nothing_and_withdraws_what_was_taught() {
        let mut given = Given::received_and_scored(Disposition::None);
        let only = given.accepted("s1", Disposition::Spoof);
        let reactions = react(&given.record, &only, None);
        assert!(reactions.reactions.is_empty());
        assert_eq!(reactions.untaught.as_deref(), Some("SPOOF teaches the classifier nothing"));

        let mut given = Given::received_and_scored(Disposition::None);
        given.accepted("s1", Disposition::Spam);
        let spoof = given.accepted("s2", Disposition::Spoof);
        assert_eq!(labels(&react(&given.record, &spoof, None)), ["withdraw spam"]);
    }

    #[test]
    fn withdrawing_an_accepted_one_takes_its_label_back_and_restores_the_earlier_one() {
        let mut given = Given::received_and_scored(Disposition::None);
        let first = given.accepted("s1", Disposition::Spam);
        let withdrawn = given.resolved("s1", ReclassificationOutcome::Withdrawn, Disposition::None);
        let reactions = react(&given.record, &withdrawn, Some(&quarantine_malicious()));
        assert_eq!(labels(&reactions), ["withdraw spam"]);
        let Reaction::Withdraw { reason, .. } = &reactions.reactions[0] else { unreachable!() };
        assert_eq!(reason, "reclassification s1 withdrawn");
        // Read at its own position later, the first decision still teaches what it taught.
        assert_eq!(labels(&react(&given.record, &first, None)), ["teach spam from 7"]);

        // PHISH, then SPAM, then SPAM withdrawn: phishing is in force again.
        let mut given = Given::received_and_scored(Disposition::None);
        given.accepted("s1", Disposition::Malicious);
        given.accepted("s2", Disposition::Spam);
        let withdrawn = given.resolved("s2", ReclassificationOutcome::Withdrawn, Disposition::Malicious);
        assert_eq!(labels(&react(&given.record, &withdrawn, None)), ["withdraw spam", "teach phish from 7"]);
    }

    #[test]
    fn rejected_and_pending_withdrawn_submissions_cause_nothing() {
        let mut given = Given::received_and_scored(Disposition::None);
        given.submitted("s1", Disposition::Malicious);
        let rejected = given.resolved("s1", ReclassificationOutcome::Rejected, Disposition::None);
        let reactions = react(&given.record, &rejected, Some(&quarantine_malicious()));
        assert_eq!((reactions.reactions.len(), reactions.untaught), (0, None));
        given.submitted("s2", Disposition::Malicious);
        let withdrawn = given.resolved("s2", ReclassificationOutcome::Withdrawn, Disposition::None);
        assert!(react(&given.record, &withdrawn, Some(&quarantine_malicious())).reactions.is_empty());
    }

    #[test]
    fn a_decision_folded_before_its_request_reacts_the_same() {
        // The decision carries its final disposition: the request is not needed.
        let mut given = Given::received_and_scored(Disposition::None);
        let decision = given.resolved("s1", ReclassificationOutcome::Accepted, Disposition::Malicious);
        assert_eq!(
            labels(&react(&given.record, &decision, Some(&quarantine_malicious()))),
            ["teach phish from 7", "quarantine alice@corp.example,bob@corp.example"]
        );
    }

    #[test]
    fn replaying_the_log_yields_the_same_reactions_with_the_same_ids() {
        let run = || {
            let mut given = Given::received_and_scored(Disposition::None);
            let a = given.accepted("s1", Disposition::Malicious);
            let b = given.accepted("s2", Disposition::Spam);
            let policy = quarantine_malicious();
            (react(&given.record, &a, Some(&policy)), react(&given.record, &b, Some(&policy)))
        };
        let (first, second) = (run(), run());
        assert_eq!(first, second);
        let ids: std::collections::HashSet<_> =
            first.0.reactions.iter().chain(&first.1.reactions).map(Reaction::event_id).collect();
        assert_eq!(ids.len(), 4, "every reaction has an id of its own");
    }

    #[test]
    fn a_remediation_already_requested_is_not_requested_again() {
        let mut given = Given::received_and_scored(Disposition::None);
        let decision = given.accepted("s1", Disposition::Malicious);
        let policy = quarantine_malicious();
        let Reaction::Remediate { request, .. } = react(&given.record, &decision, Some(&policy)).reactions[1].clone()
        else {
            unreachable!()
        };
        given.fold(Event::RemediationRequested(request));
        assert_eq!(labels(&react(&given.record, &decision, Some(&policy))), ["teach phish from 7"]);
    }

    #[test]
    fn derived_ids_keep_the_decision_time_and_differ_by_kind() {
        let decision = Ulid::from_parts(1_700_000_000_000, 42);
        let teach = derived_id(decision, "teach");
        assert_eq!(teach.timestamp_ms(), 1_700_000_000_000);
        assert_eq!(teach, derived_id(decision, "teach"));
        assert_ne!(teach, derived_id(decision, "withdraw"));
        assert_ne!(teach, derived_id(Ulid::from_parts(1_700_000_000_000, 43), "teach"));
    }

    #[test]
    fn reports_say_what_was_published() {
        let mut given = Given::received_and_scored(Disposition::None);
        given.accepted("s1", Disposition::Malicious);
        let second = given.accepted("s2", Disposition::Spam);
        let report = Report::of(&react(&given.record, &second, None));
        assert_eq!(
            report.training,
            Some(json!({"taught": true, "label": "spam", "withdrawn": false, "withdrew": "phish"}))
        );
        assert_eq!(report.remediation, None);
    }

    #[tokio::test]
    async fn the_api_waits_for_a_report_and_says_pending_without_one() {
        let reports = std::sync::Arc::new(Reports::default());
        let decision = Ulid::new();
        let waiting = {
            let reports = reports.clone();
            tokio::spawn(async move { reports.wait(decision, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let report = Report { training: Some(json!({"taught": true})), remediation: None };
        reports.record(decision, report.clone());
        assert_eq!(waiting.await.unwrap(), report);

        let other = Ulid::new();
        reports.failed(other, "MAIL_TRAINING: maximum messages exceeded".into());
        let pending = reports.wait(other, Duration::from_millis(30)).await;
        assert_eq!(pending.training.as_ref().unwrap()["pending"], true);
        assert!(pending.training.unwrap()["reason"].as_str().unwrap().contains("maximum messages exceeded"));
    }
}
