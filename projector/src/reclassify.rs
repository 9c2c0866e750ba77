//! Reclassification: the API side. A submission or a decision is an event on MAIL_EVENTS
//! (`mail.reclassification.<tenant>`); the views change when the projector folds it. Each
//! write waits (up to [`crate::api::FOLD_WAIT`]) for its own fold, so the answer shows the
//! new state.

use crate::api::{ApiError, SubmitBody};
use crate::decide::{self, Command, Rejection, ReviewPolicy, SubmissionStatus, decide};
use crate::query;
use crate::store::Store;
use crate::store::schema::search::{self, Field};
use crate::view::message::MessageRecord;
use async_nats::HeaderMap;
use async_nats::jetstream;
use axum::http::StatusCode;
use proto::policy::TenantPolicy;
use proto::subject::{HEADER_MSG_ID, STREAM_EVENTS, subject_for};
use proto::{Disposition, Envelope, Event, PosternId, ReclassificationOutcome, SubmissionType, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const PRODUCER: &str = concat!("projector-api/", env!("CARGO_PKG_VERSION"));

fn conflict(message: impl Into<String>) -> ApiError {
    crate::api::error(StatusCode::CONFLICT, "conflict", message)
}

/// The message a submission names: by Postern id, Message-ID or alert id (exactly one).
pub fn find_message(store: &Store, tenant: &str, b: &SubmitBody) -> Result<MessageRecord, ApiError> {
    let not_found = |what: &str| crate::api::error(StatusCode::NOT_FOUND, "not_found", format!("no message {what}"));
    match (&b.postern_id, &b.message_id, &b.alert_id) {
        (Some(pid), None, None) => {
            let pid = PosternId::parse(pid)
                .map_err(|e| crate::api::error(StatusCode::BAD_REQUEST, "bad_request", format!("postern_id: {e}")))?;
            query::by_postern_id(store, tenant, pid.as_str())?.ok_or_else(|| not_found(pid.as_str()))
        }
        (None, Some(mid), None) => {
            let mut found = query::by_message_id(store, tenant, mid)?;
            match found.len() {
                0 => Err(not_found(mid)),
                1 => Ok(found.remove(0)),
                n => Err(crate::api::error(
                    StatusCode::BAD_REQUEST,
                    "ambiguous",
                    format!("{n} messages carry Message-ID {mid}; name one by postern_id"),
                )),
            }
        }
        (None, None, Some(alert)) => {
            let id = first_by_field(store, tenant, Field::AlertId, alert)?.ok_or_else(|| not_found(alert))?;
            query::by_postern_id(store, tenant, &id)?.ok_or_else(|| not_found(alert))
        }
        _ => Err(crate::api::error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give exactly one of postern_id, message_id or alert_id",
        )),
    }
}

/// The Postern id of the newest message with this exact indexed value.
fn first_by_field(store: &Store, tenant: &str, field: Field, value: &str) -> Result<Option<String>, ApiError> {
    let prefix = search::prefix(tenant, field, value);
    let upper = [prefix.as_slice(), &[0xff; 9]].concat();
    let mut found = None;
    store.scan_reverse(search::CF, &prefix, &upper, |key| {
        found = search::decode_tail(key, prefix.len()).map(|(_, id)| id);
        false
    })?;
    Ok(found)
}

async fn publish(
    js: &jetstream::Context,
    tenant: &str,
    postern_id: &str,
    causation: Option<ulid::Ulid>,
    event: Event,
) -> Result<(ulid::Ulid, u64), ApiError> {
    let event_type = event.event_type();
    let tenant =
        TenantId::new(tenant).map_err(|e| crate::api::error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    let envelope = Envelope {
        event_id: ulid::Ulid::new(),
        event_type,
        schema: event_type.current_schema(),
        postern_id: PosternId::parse(postern_id)
            .map_err(|e| crate::api::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?,
        tenant: tenant.clone(),
        causation_id: causation,
        occurred_at: Timestamp::now(),
        producer: PRODUCER.to_owned(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_MSG_ID, envelope.event_id.to_string().as_str());
    let unavailable = |e: String| crate::api::error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e);
    let ack = js
        .publish_with_headers(subject_for(event_type, &tenant), headers, proto::encode(&envelope, &event).into())
        .await
        .map_err(|e| unavailable(format!("publishing: {e}")))?
        .await
        .map_err(|e| unavailable(format!("JetStream did not acknowledge: {e}")))?;
    Ok((envelope.event_id, ack.sequence))
}

/// Waits until the projector has folded MAIL_EVENTS up to `seq` (or the wait runs out).
async fn wait_for_fold(store: &Store, seq: u64) -> bool {
    let deadline = tokio::time::Instant::now() + crate::api::FOLD_WAIT;
    while tokio::time::Instant::now() < deadline {
        if store.checkpoint(STREAM_EVENTS).unwrap_or(0) >= seq {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// A rejected command as the API answers it.
fn rejected(rejection: Rejection) -> ApiError {
    match rejection {
        Rejection::NotFound(id) => crate::api::error(StatusCode::NOT_FOUND, "not_found", format!("no submission {id}")),
        Rejection::Conflict(message) => conflict(message),
        unreadable @ Rejection::Unreadable { .. } => {
            crate::api::error(StatusCode::INTERNAL_SERVER_ERROR, "unreadable_record", unreadable.to_string())
        }
    }
}

/// Publishes what [`decide`] decided, in order (each later event caused by the first);
/// returns the first event's id and the last one's stream sequence.
async fn publish_decided(
    js: &jetstream::Context,
    record: &MessageRecord,
    events: Vec<Event>,
) -> Result<(ulid::Ulid, u64), ApiError> {
    let mut first: Option<ulid::Ulid> = None;
    let mut seq = 0;
    for event in events {
        let (id, s) = publish(js, &record.tenant, &record.postern_id, first, event).await?;
        first.get_or_insert(id);
        seq = s;
    }
    first
        .map(|id| (id, seq))
        .ok_or_else(|| crate::api::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a decision without events"))
}

pub async fn submit(
    js: &jetstream::Context,
    store: &Store,
    record: &MessageRecord,
    submission_type: SubmissionType,
    requested: Disposition,
    requested_by: &str,
    comment: &str,
) -> Result<serde_json::Value, ApiError> {
    // A team's submission is the team's decision, unless the tenant's policy wants a
    // second analyst for those too.
    let policy = if submission_type == SubmissionType::Team { tenant_policy(js, &record.tenant).await } else { None };
    let review = ReviewPolicy { review_team_submissions: policy.as_ref().is_some_and(|p| p.review_team_submissions) };
    let submission_id = ulid::Ulid::new().to_string();
    let command = Command::Submit {
        submission_id: submission_id.clone(),
        submission_type,
        requested,
        requested_by: requested_by.to_owned(),
        comment: comment.to_owned(),
    };
    let events = decide(record, &command, &review).map_err(rejected)?;
    let original = match events.first() {
        Some(Event::ReclassificationSubmitted(s)) => s.original,
        _ => Disposition::None,
    };
    let accepted = events
        .iter()
        .any(|e| matches!(e, Event::ReclassificationResolved(r) if r.outcome == ReclassificationOutcome::Accepted));
    let (_, seq) = publish_decided(js, record, events).await?;
    let (learned, remediation) = if accepted {
        (
            Some(teach(js, record, &submission_id, requested, false).await),
            request_remediation(js, record, &submission_id, requested, policy.as_ref()).await,
        )
    } else {
        (None, None)
    };
    let folded = wait_for_fold(store, seq).await;
    let status = if accepted { SubmissionStatus::Accepted } else { SubmissionStatus::Pending };
    Ok(json!({
        "submission_id": submission_id,
        "postern_id": record.postern_id,
        "status": status.as_str(),
        "original": original.as_str(),
        "requested": requested.as_str(),
        "final_disposition": if accepted { requested.as_str() } else { original.as_str() },
        "folded": folded,
        "training": learned,
        "remediation": remediation,
    }))
}

/// The tenant's policy as stored (KV bucket POSTERN_POLICIES, JSON), if any. A value this
/// build cannot read is logged and taken as no policy.
async fn tenant_policy(js: &jetstream::Context, tenant: &str) -> Option<TenantPolicy> {
    let kv = js.get_key_value(proto::subject::BUCKET_POLICIES).await.ok()?;
    let bytes = kv.get(tenant).await.ok()??;
    match serde_json::from_slice(&bytes) {
        Ok(policy) => Some(policy),
        Err(e) => {
            tracing::error!(tenant, error = %e, "the tenant's stored policy is not readable; acting as if it had none");
            None
        }
    }
}

/// When the new final disposition's policy action moves the message: a
/// RemediationRequested naming every recipient mailbox.
async fn request_remediation(
    js: &jetstream::Context,
    record: &MessageRecord,
    submission_id: &str,
    disposition: Disposition,
    policy: Option<&TenantPolicy>,
) -> Option<serde_json::Value> {
    let action = policy?.actions.get(disposition.as_str())?.remediation()?;
    let message_id = record.message_id.as_deref().filter(|m| !m.trim().is_empty())?;
    let remediation_id = ulid::Ulid::new().to_string();
    let mailboxes = record.recipients();
    let event = Event::RemediationRequested(proto::RemediationRequested {
        remediation_id: remediation_id.clone(),
        message_id: format!("<{}>", message_id.trim().trim_matches(['<', '>'])),
        action,
        mailboxes: mailboxes.clone(),
        reason: format!("final disposition {} (reclassification {submission_id})", disposition.as_str()),
    });
    match publish(js, &record.tenant, &record.postern_id, None, event).await {
        Ok(_) => Some(json!({ "remediation_id": remediation_id, "action": action.as_str(), "mailboxes": mailboxes })),
        Err(e) => Some(json!({ "error": format!("{e:?}") })),
    }
}

/// What an accepted reclassification teaches the scorers' classifier: SPAM teaches spam,
/// MALICIOUS and SUSPICIOUS phishing, NONE and BULK ham; SPOOF (an authentication matter,
/// not a matter of content) nothing.
pub fn training_label(disposition: Disposition) -> Option<proto::TrainingLabel> {
    match disposition {
        Disposition::Spam => Some(proto::TrainingLabel::Spam),
        Disposition::Malicious | Disposition::Suspicious => Some(proto::TrainingLabel::Phish),
        Disposition::None | Disposition::Bulk => Some(proto::TrainingLabel::Ham),
        Disposition::Spoof => None,
    }
}

/// Publishes the training event of an accepted reclassification (the message, read back
/// from MAIL_RAW, labelled) or, when `withdraw`, takes it back. The scorers fold
/// MAIL_TRAINING; what is taught here is unlearned exactly when the decision is withdrawn.
async fn teach(
    js: &jetstream::Context,
    record: &MessageRecord,
    submission_id: &str,
    disposition: Disposition,
    withdraw: bool,
) -> serde_json::Value {
    let Some(label) = training_label(disposition) else {
        return json!({ "taught": false, "reason": format!("{} teaches the classifier nothing", disposition.as_str()) });
    };
    let Some(copy) = record.copies.first() else {
        return json!({ "taught": false, "reason": "no copy of the message was received" });
    };
    let event = if withdraw {
        Event::LabelWithdrawn(proto::LabelWithdrawn {
            label,
            content_digest: copy.content_digest.clone(),
            reason: format!("reclassification {submission_id} withdrawn"),
        })
    } else {
        match crate::raw::fetch(js, copy.position.seq).await {
            Ok(bytes) => Event::MessageLabelled(proto::MessageLabelled {
                label,
                source: format!("reclassification:{submission_id}"),
                content_digest: copy.content_digest.clone(),
                body: proto::MailBody::Inline(bytes),
            }),
            Err(e) => return json!({ "taught": false, "reason": e.to_string() }),
        }
    };
    match publish(js, &record.tenant, &record.postern_id, None, event).await {
        Ok(_) => json!({ "taught": true, "label": label.as_str(), "withdrawn": withdraw }),
        Err(e) => json!({ "taught": false, "reason": format!("{e:?}") }),
    }
}

/// MAIL_TRAINING, as the scorers create it (the API may publish before any scorer ran), on
/// `replicas` nodes; an existing one with another replica count is an error. The projector
/// ensures it once at start ([`crate::run`]).
pub async fn ensure_training_stream(
    js: &jetstream::Context,
    replicas: usize,
) -> Result<(), crate::error::StreamSetupError> {
    use async_nats::jetstream::stream;
    let stream = js
        .get_or_create_stream(stream::Config {
            name: proto::subject::STREAM_TRAINING.to_owned(),
            subjects: vec![proto::subject::TRAINING_SUBJECTS.to_owned()],
            description: Some(proto::subject::TRAINING_DESCRIPTION.to_owned()),
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_message_size: proto::subject::TRAINING_MAX_MESSAGE_BYTES,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| crate::error::StreamSetupError::Nats {
            stream: proto::subject::STREAM_TRAINING,
            reason: e.to_string(),
        })?;
    proto::cluster::check_stream_replicas(
        proto::subject::STREAM_TRAINING,
        stream.cached_info().config.num_replicas,
        replicas,
    )?;
    Ok(())
}

/// One submission as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionView {
    pub submission_id: String,
    pub postern_id: String,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    #[serde(rename = "type")]
    pub submission_type: String,
    pub requested_by: String,
    pub requested_at: String,
    pub original: String,
    pub requested: String,
    pub status: String,
    pub final_disposition: Option<String>,
    pub resolved_by: Option<String>,
    pub comment: String,
}

pub fn view_of(record: &MessageRecord, submission_id: &str) -> Option<SubmissionView> {
    let s = record.submissions.iter().find(|s| s.submission_id == submission_id)?;
    let (status, resolution) = record.status_of(submission_id);
    Some(SubmissionView {
        submission_id: s.submission_id.clone(),
        postern_id: record.postern_id.clone(),
        message_id: record.message_id.clone(),
        subject: record.headers.as_ref().and_then(|h| h.subject.clone()),
        submission_type: s.submission_type.clone(),
        requested_by: s.requested_by.clone(),
        requested_at: Timestamp(s.stamp.at).to_rfc3339(),
        original: s.original.clone(),
        requested: s.requested.clone(),
        status: status.to_owned(),
        final_disposition: record.final_disposition().map(str::to_owned),
        resolved_by: resolution.map(|r| r.resolved_by.clone()),
        comment: s.comment.clone(),
    })
}

/// Submissions of a tenant, newest message first, optionally of one status.
pub fn list(store: &Store, tenant: &str, status: Option<&str>, limit: usize) -> Result<Vec<SubmissionView>, ApiError> {
    let statuses: Vec<&str> = match status {
        Some(s) => vec![s],
        None => SubmissionStatus::ALL.iter().map(|s| s.as_str()).collect(),
    };
    let mut out: Vec<SubmissionView> = Vec::new();
    for st in statuses {
        let prefix = search::prefix(tenant, Field::Reclassification, st);
        let upper = [prefix.as_slice(), &[0xff; 9]].concat();
        let mut ids = Vec::new();
        store.scan_reverse(search::CF, &prefix, &upper, |key| {
            if let Some((_, id)) = search::decode_tail(key, prefix.len()) {
                ids.push(id);
            }
            ids.len() < limit
        })?;
        for id in ids {
            if let Some(record) = query::by_postern_id(store, tenant, &id)? {
                out.extend(
                    record
                        .submissions
                        .iter()
                        .filter(|s| record.status_of(&s.submission_id).0 == st)
                        .filter_map(|s| view_of(&record, &s.submission_id)),
                );
            }
        }
    }
    out.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then_with(|| b.submission_id.cmp(&a.submission_id)));
    out.truncate(limit);
    Ok(out)
}

pub async fn resolve(
    js: &jetstream::Context,
    store: &Store,
    tenant: &str,
    submission_id: &str,
    outcome: ReclassificationOutcome,
    resolved_by: &str,
    comment: &str,
) -> Result<serde_json::Value, ApiError> {
    let not_found = || rejected(Rejection::NotFound(submission_id.to_owned()));
    let id = first_by_field(store, tenant, Field::Submission, submission_id)?.ok_or_else(not_found)?;
    let record = query::by_postern_id(store, tenant, &id)?.ok_or_else(not_found)?;
    let before = decide::status(&record, submission_id).map_err(rejected)?;
    let command = Command::Resolve {
        submission_id: submission_id.to_owned(),
        outcome,
        resolved_by: resolved_by.to_owned(),
        comment: comment.to_owned(),
    };
    let events = decide(&record, &command, &ReviewPolicy::default()).map_err(rejected)?;
    let final_disposition = match events.first() {
        Some(Event::ReclassificationResolved(r)) => r.final_disposition,
        _ => return Err(rejected(Rejection::NotFound(submission_id.to_owned()))),
    };
    let (_, seq) = publish_decided(js, &record, events).await?;
    let requested = record
        .submissions
        .iter()
        .find(|s| s.submission_id == submission_id)
        .and_then(|s| s.requested.parse::<Disposition>().ok())
        .ok_or_else(not_found)?;
    let remediation = match outcome {
        ReclassificationOutcome::Accepted => {
            let policy = tenant_policy(js, tenant).await;
            request_remediation(js, &record, submission_id, requested, policy.as_ref()).await
        }
        _ => None,
    };
    let training = match (outcome, before) {
        (ReclassificationOutcome::Accepted, _) => Some(teach(js, &record, submission_id, requested, false).await),
        (ReclassificationOutcome::Withdrawn, SubmissionStatus::Accepted) => {
            Some(teach(js, &record, submission_id, requested, true).await)
        }
        _ => None,
    };
    let folded = wait_for_fold(store, seq).await;
    Ok(json!({
        "submission_id": submission_id,
        "postern_id": record.postern_id,
        "status": SubmissionStatus::after(outcome).as_str(),
        "final_disposition": final_disposition.as_str(),
        "folded": folded,
        "training": training,
        "remediation": remediation,
    }))
}
