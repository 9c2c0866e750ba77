//! Reclassification: the API side. A submission or a decision is an event on MAIL_EVENTS
//! (`mail.reclassification.<tenant>`); the views change when the projector folds it. Each
//! write waits (up to [`crate::api::FOLD_WAIT`]) for its own fold, so the answer shows the
//! new state.

use crate::api::{ApiError, SubmitBody};
use crate::decide::{self, Command, DecisionPolicy, Rejection, SubmissionStatus, decide};
use crate::query;
use crate::reactor::{self, Reports};
use crate::store::Store;
use crate::store::schema::search::{self, Field};
use crate::view::message::MessageRecord;
use async_nats::jetstream;
use axum::http::StatusCode;
use proto::subject::STREAM_EVENTS;
use proto::{Disposition, Envelope, Event, PosternId, ReclassificationOutcome, SubmissionType, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

pub const PRODUCER: &str = concat!("projector-api/", env!("CARGO_PKG_VERSION"));

/// The message a submission names: by Postern id, Message-ID or alert id (exactly one).
pub fn find_message(store: &Store, tenant: &str, b: &SubmitBody) -> Result<MessageRecord, ApiError> {
    let no_message = |what: &str| rejected(Rejection::NoMessage(what.to_owned()));
    match (&b.postern_id, &b.message_id, &b.alert_id) {
        (Some(pid), None, None) => {
            let pid = PosternId::parse(pid).map_err(|e| rejected(Rejection::Invalid(format!("postern_id: {e}"))))?;
            query::by_postern_id(store, tenant, pid.as_str())?.ok_or_else(|| no_message(pid.as_str()))
        }
        (None, Some(mid), None) => {
            let mut found = query::by_message_id(store, tenant, mid)?;
            match found.len() {
                0 => Err(no_message(mid)),
                1 => Ok(found.remove(0)),
                count => Err(rejected(Rejection::Ambiguous { message_id: mid.clone(), count })),
            }
        }
        (None, None, Some(alert)) => {
            let id = first_by_field(store, tenant, Field::AlertId, alert)?.ok_or_else(|| no_message(alert))?;
            query::by_postern_id(store, tenant, &id)?.ok_or_else(|| no_message(alert))
        }
        _ => Err(rejected(Rejection::Invalid("give exactly one of postern_id, message_id or alert_id".to_owned()))),
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

/// The envelope of an event the projector writes (`PRODUCER`), occurring now.
pub(crate) fn envelope(
    tenant: TenantId,
    postern_id: PosternId,
    event_id: ulid::Ulid,
    causation: Option<ulid::Ulid>,
    event: &Event,
) -> Envelope {
    let event_type = event.event_type();
    Envelope {
        event_id,
        event_type,
        schema: event_type.current_schema(),
        postern_id,
        tenant,
        causation_id: causation,
        occurred_at: Timestamp::now(),
        producer: PRODUCER.to_owned(),
    }
}

pub(crate) async fn publish(
    js: &jetstream::Context,
    tenant: &str,
    postern_id: &str,
    causation: Option<ulid::Ulid>,
    event: Event,
) -> Result<(ulid::Ulid, u64), ApiError> {
    let tenant =
        TenantId::new(tenant).map_err(|e| crate::api::error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    let postern_id = PosternId::parse(postern_id)
        .map_err(|e| crate::api::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let envelope = envelope(tenant, postern_id, ulid::Ulid::new(), causation, &event);
    let ack = proto::publish::publish(js, &envelope, &event, None)
        .await
        .map_err(|e| crate::api::error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()))?;
    Ok((envelope.event_id, ack.sequence))
}

/// Waits until the projector has folded MAIL_EVENTS up to `seq` (or the wait runs out).
pub(crate) async fn wait_for_fold(store: &Store, seq: u64) -> bool {
    let deadline = tokio::time::Instant::now() + crate::api::FOLD_WAIT;
    while tokio::time::Instant::now() < deadline {
        if store.checkpoint(STREAM_EVENTS).unwrap_or(0) >= seq {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// A rejected command as the API answers it: the one place a rejection becomes a status.
pub fn rejected(rejection: Rejection) -> ApiError {
    let message = rejection.to_string();
    match rejection {
        Rejection::NotFound(_) | Rejection::NoMessage(_) => {
            crate::api::error(StatusCode::NOT_FOUND, "not_found", message)
        }
        Rejection::Ambiguous { .. } => crate::api::error(StatusCode::BAD_REQUEST, "ambiguous", message),
        Rejection::Invalid(_) => crate::api::error(StatusCode::BAD_REQUEST, "bad_request", message),
        Rejection::Conflict(_) => crate::api::error(StatusCode::CONFLICT, "conflict", message),
        Rejection::Forbidden(_) => crate::api::error(StatusCode::FORBIDDEN, "forbidden", message),
    }
}

/// Publishes what [`decide`] decided, in order (each later event caused by the first);
/// returns the events' ids and the last one's stream sequence.
async fn publish_decided(
    js: &jetstream::Context,
    record: &MessageRecord,
    events: Vec<Event>,
) -> Result<(Vec<ulid::Ulid>, u64), ApiError> {
    let mut ids: Vec<ulid::Ulid> = Vec::new();
    let mut seq = 0;
    for event in events {
        let (id, s) = publish(js, &record.tenant, &record.postern_id, ids.first().copied(), event).await?;
        ids.push(id);
        seq = s;
    }
    if ids.is_empty() {
        return Err(crate::api::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a decision without events"));
    }
    Ok((ids, seq))
}

/// The id of the decision among published events (the `ReclassificationResolved`).
fn decision_id(events: &[Event], ids: &[ulid::Ulid]) -> Option<ulid::Ulid> {
    events.iter().zip(ids).find(|(e, _)| matches!(e, Event::ReclassificationResolved(_))).map(|(_, id)| *id)
}

/// Submits a reclassification; a team's (unless the policy wants it reviewed) is accepted
/// at once. The answer shows the folded state and, for an accepted one, what the reactor
/// published because of it (training label, remediation request), or that it is pending.
#[allow(clippy::too_many_arguments)]
pub async fn submit(
    js: &jetstream::Context,
    store: &Store,
    reports: &Reports,
    record: &MessageRecord,
    submission_type: SubmissionType,
    requested: Disposition,
    requested_by: &str,
    comment: &str,
    client_addr: Option<&str>,
) -> Result<ReclassificationAnswer, ApiError> {
    // A team's submission is the team's decision, unless the tenant's policy wants a
    // second analyst for those too; accepted at once, it carries the policy's action.
    let policy = match submission_type {
        SubmissionType::Team => decision_policy(js, &record.tenant).await?,
        SubmissionType::User => DecisionPolicy::default(),
    };
    let submission_id = ulid::Ulid::new().to_string();
    let command = Command::Submit {
        submission_id: submission_id.clone(),
        submission_type,
        requested,
        requested_by: requested_by.to_owned(),
        comment: comment.to_owned(),
        client_addr: client_addr.map(str::to_owned),
    };
    let events = decide(record, &command, &policy).map_err(rejected)?;
    let original = match events.first() {
        Some(Event::ReclassificationSubmitted(s)) => s.original,
        _ => Disposition::None,
    };
    let accepted = events
        .iter()
        .any(|e| matches!(e, Event::ReclassificationResolved(r) if r.outcome == ReclassificationOutcome::Accepted));
    let (ids, seq) = publish_decided(js, record, events.clone()).await?;
    let folded = wait_for_fold(store, seq).await;
    let report = match decision_id(&events, &ids) {
        Some(decision) if accepted => Some(reports.wait(decision, crate::api::FOLD_WAIT).await),
        _ => None,
    };
    let status = if accepted { SubmissionStatus::Accepted } else { SubmissionStatus::Pending };
    Ok(ReclassificationAnswer {
        submission_id,
        postern_id: record.postern_id.clone(),
        status: status.as_str().to_owned(),
        original: Some(original.as_str().to_owned()),
        requested: Some(requested.as_str().to_owned()),
        final_disposition: if accepted { requested } else { original }.as_str().to_owned(),
        folded,
        training: report.as_ref().and_then(|r| r.training.clone()),
        remediation: report.as_ref().and_then(|r| r.remediation.clone()),
        release: None,
    })
}

/// The answer to a submission or a decision: the API's JSON, and what the CLI reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReclassificationAnswer {
    pub submission_id: String,
    pub postern_id: String,
    /// PENDING, ACCEPTED, REJECTED or WITHDRAWN.
    pub status: String,
    /// The disposition in force when it was asked (submissions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    pub final_disposition: String,
    /// Whether the views showed the new state before the answer.
    pub folded: bool,
    /// What the reactor published for it ([`crate::reactor::Report`]), or that it is
    /// pending; null when the decision teaches nothing.
    pub training: Option<serde_json::Value>,
    pub remediation: Option<serde_json::Value>,
    /// On a withdrawal of a decision that moved mail: the release that puts it back
    /// (`projector release`, `POST /api/v1/messages/{postern_id}/release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<serde_json::Value>,
}

/// `GET /api/v1/reclassifications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionList {
    pub reclassifications: Vec<SubmissionView>,
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
        submission_type: s.submission_type.as_str().to_owned(),
        requested_by: s.requested_by.clone(),
        requested_at: Timestamp(s.stamp.at).to_rfc3339(),
        original: s.original.as_str().to_owned(),
        requested: s.requested.as_str().to_owned(),
        status: status.as_str().to_owned(),
        final_disposition: record.final_disposition().map(|d| d.as_str().to_owned()),
        resolved_by: resolution.map(|r| r.resolved_by.clone()),
        comment: s.comment.clone(),
    })
}

/// Submissions of a tenant, newest message first, optionally of one status.
pub fn list(
    store: &Store,
    tenant: &str,
    status: Option<SubmissionStatus>,
    limit: usize,
) -> Result<Vec<SubmissionView>, ApiError> {
    let statuses: Vec<SubmissionStatus> = match status {
        Some(s) => vec![s],
        None => SubmissionStatus::ALL.to_vec(),
    };
    let mut out: Vec<SubmissionView> = Vec::new();
    for st in statuses {
        for record in with_submissions(store, tenant, st, limit)? {
            out.extend(
                record
                    .submissions
                    .iter()
                    .filter(|s| record.status_of(&s.submission_id).0 == st)
                    .filter_map(|s| view_of(&record, &s.submission_id)),
            );
        }
    }
    out.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then_with(|| b.submission_id.cmp(&a.submission_id)));
    out.truncate(limit);
    Ok(out)
}

/// The tenant's messages (newest first, at most `limit`) that have a submission in `status`.
pub fn with_submissions(
    store: &Store,
    tenant: &str,
    status: SubmissionStatus,
    limit: usize,
) -> Result<Vec<MessageRecord>, crate::error::StoreError> {
    let prefix = search::prefix(tenant, Field::Reclassification, status.as_str());
    let upper = [prefix.as_slice(), &[0xff; 9]].concat();
    let mut ids = Vec::new();
    store.scan_reverse(search::CF, &prefix, &upper, |key| {
        if let Some((_, id)) = search::decode_tail(key, prefix.len()) {
            ids.push(id);
        }
        ids.len() < limit
    })?;
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        records.extend(query::by_postern_id(store, tenant, &id)?);
    }
    Ok(records)
}

/// The tenant's policy as a decision needs it; when it cannot be read, nothing is decided
/// (503): neither its review rule nor its action is guessed.
async fn decision_policy(js: &jetstream::Context, tenant: &str) -> Result<DecisionPolicy, ApiError> {
    let policy = reactor::tenant_policy(js, tenant)
        .await
        .map_err(|e| crate::api::error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()))?;
    Ok(DecisionPolicy::of(policy.as_ref()))
}

/// Who decides, as the API knows them.
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    pub name: &'a str,
    /// The name is a token's (known), not what a request said: who submitted may then not
    /// decide on their own submission.
    pub known: bool,
    /// Where the request came from (the API's peer), for the audit trail.
    pub client_addr: Option<&'a str>,
}

/// Decides on a submission (accept, reject, withdraw). The answer, as for [`submit`],
/// shows what the reactor published because of it: for an acceptance the label and the
/// remediation request, for the withdrawal of an accepted one the label taken back.
#[allow(clippy::too_many_arguments)]
pub async fn resolve(
    js: &jetstream::Context,
    store: &Store,
    reports: &Reports,
    tenant: &str,
    submission_id: &str,
    outcome: ReclassificationOutcome,
    decider: Decider<'_>,
    comment: &str,
) -> Result<ReclassificationAnswer, ApiError> {
    let resolved_by = decider.name;
    let not_found = || rejected(Rejection::NotFound(submission_id.to_owned()));
    let id = first_by_field(store, tenant, Field::Submission, submission_id)?.ok_or_else(not_found)?;
    let record = query::by_postern_id(store, tenant, &id)?.ok_or_else(not_found)?;
    let before = decide::status(&record, submission_id);
    let command = Command::Resolve {
        submission_id: submission_id.to_owned(),
        outcome,
        resolved_by: resolved_by.to_owned(),
        comment: comment.to_owned(),
        client_addr: decider.client_addr.map(str::to_owned),
    };
    // An acceptance carries the action the tenant's policy names now.
    let mut policy = match outcome {
        ReclassificationOutcome::Accepted | ReclassificationOutcome::Withdrawn => decision_policy(js, tenant).await?,
        ReclassificationOutcome::Rejected => DecisionPolicy::default(),
    };
    policy.four_eyes = decider.known;
    let events = decide(&record, &command, &policy).map_err(rejected)?;
    let final_disposition = match events.first() {
        Some(Event::ReclassificationResolved(r)) => r.final_disposition,
        _ => return Err(rejected(Rejection::NotFound(submission_id.to_owned()))),
    };
    let (ids, seq) = publish_decided(js, &record, events.clone()).await?;
    let folded = wait_for_fold(store, seq).await;
    let reacts = matches!(
        (outcome, before),
        (ReclassificationOutcome::Accepted, _) | (ReclassificationOutcome::Withdrawn, SubmissionStatus::Accepted)
    );
    let report = match decision_id(&events, &ids) {
        Some(decision) if reacts => Some(reports.wait(decision, crate::api::FOLD_WAIT).await),
        _ => None,
    };
    Ok(ReclassificationAnswer {
        submission_id: submission_id.to_owned(),
        postern_id: record.postern_id.clone(),
        status: SubmissionStatus::after(outcome).as_str().to_owned(),
        original: None,
        requested: None,
        final_disposition: final_disposition.as_str().to_owned(),
        folded,
        training: report.as_ref().and_then(|r| r.training.clone()),
        remediation: report.as_ref().and_then(|r| r.remediation.clone()),
        // Withdrawn after mail was moved, with no release of its own: the answer offers the
        // release that undoes it.
        release: (outcome == ReclassificationOutcome::Withdrawn
            && report.as_ref().and_then(|r| r.remediation.as_ref()).is_none()
            && crate::release::available(&record))
        .then(|| {
            serde_json::json!({
                "available": true,
                "request": format!("POST /api/v1/messages/{}/release", record.postern_id),
            })
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    async fn answer(rejection: Rejection) -> (StatusCode, serde_json::Value) {
        let response = rejected(rejection).into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn each_rejection_is_one_status_with_its_code_and_message() {
        let cases = [
            (Rejection::NotFound("s-1".into()), StatusCode::NOT_FOUND, "not_found", "no submission s-1"),
            (Rejection::NoMessage("m@x".into()), StatusCode::NOT_FOUND, "not_found", "no message m@x"),
            (
                Rejection::Ambiguous { message_id: "m@x".into(), count: 2 },
                StatusCode::BAD_REQUEST,
                "ambiguous",
                "2 messages carry Message-ID m@x; name one by postern_id",
            ),
            (Rejection::Invalid("postern_id: bad".into()), StatusCode::BAD_REQUEST, "bad_request", "postern_id: bad"),
            (Rejection::Conflict("already SPAM".into()), StatusCode::CONFLICT, "conflict", "already SPAM"),
            (Rejection::Forbidden("asked by ann".into()), StatusCode::FORBIDDEN, "forbidden", "asked by ann"),
        ];
        for (rejection, status, code, message) in cases {
            let (got, body) = answer(rejection).await;
            assert_eq!(got, status);
            assert_eq!(body["error"]["code"], code);
            assert_eq!(body["error"]["message"], message);
        }
    }
}
