//! Users' submissions by mail (`UserSubmissionReceived`, from ingest's submission
//! addresses): kept in the `mail_submissions` column family as they are folded, and turned
//! into USER reclassifications of the messages they report.
//!
//! The matcher runs beside the fold: it finds the reported message among the tenant's
//! messages by its Message-ID (a forward as attachment carries it), else by its sender and
//! exact subject (an inline forward shows those), and publishes a ReclassificationSubmitted
//! (USER, requesting MALICIOUS for phish and SPAM for spam, `requested_by` the user who
//! forwarded it) whose submission id is the mail submission's and whose event id is derived
//! from it, so a repeat is dropped by JetStream's duplicate window and a submission, once
//! folded, is matched (the Submission index knows its id). A submission that matches no
//! message stays listed as unmatched, and is tried again while it is younger than a week
//! (the journal copy can arrive after the user's forward).

use crate::decide::{Command, DecisionPolicy, decide};
use crate::error::StoreError;
use crate::query::{self, SearchQuery};
use crate::store::Store;
use crate::store::schema::mail_submissions::{self, MailSubmissionRow};
use crate::store::schema::search::{self, Field};
use crate::view::message::MessageRecord;
use crate::views::SharedStore;
use proto::{Envelope, Event, PosternId, SubmissionType, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often unmatched submissions are tried.
pub const MATCH_EVERY: Duration = Duration::from_secs(1);
/// How long an unmatched submission is tried.
pub const MATCH_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// A submission published is not published again for this long (it is being folded).
const IN_FLIGHT: Duration = Duration::from_secs(30);

/// One mail submission as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailSubmissionView {
    pub submission_id: String,
    pub received_at: String,
    /// `phish` or `spam`.
    pub submitted_as: String,
    pub submitted_by: String,
    pub submission_address: String,
    pub attached: bool,
    pub reported: proto::ReportedMessage,
    /// `matched` (a USER reclassification of `postern_id` was recorded), `pending` (the
    /// reported message is found and waits to be scored or recorded), `refused` (found, but
    /// the reclassification cannot be: `reason`, e.g. it is already MALICIOUS) or
    /// `unmatched` (no such message among the tenant's).
    pub status: String,
    pub postern_id: Option<String>,
    /// Why a found message's reclassification is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the submission mail is stored (MAIL_RAW sequence), for its attached copy.
    pub raw_seq: u64,
}

/// `GET /api/v1/submissions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailSubmissionList {
    pub submissions: Vec<MailSubmissionView>,
}

/// The Postern id of the message a mail submission was recorded on, once it was.
fn matched(store: &Store, tenant: &str, submission_id: &str) -> Result<Option<String>, StoreError> {
    let prefix = search::prefix(tenant, Field::Submission, submission_id);
    Ok(store
        .keys_with_prefix(search::CF, &prefix, 1)?
        .first()
        .and_then(|key| search::decode_tail(key, prefix.len()).map(|(_, id)| id)))
}

/// The rows under `prefix` (a tenant's, or every tenant's with an empty one), newest first
/// within a tenant.
fn rows(store: &Store, prefix: &[u8]) -> Result<Vec<MailSubmissionRow>, StoreError> {
    let upper = [prefix, &[0xff; 32]].concat();
    let mut keys = Vec::new();
    store.scan_reverse(mail_submissions::CF, prefix, &upper, |key| {
        keys.push(key.to_vec());
        true
    })?;
    let mut rows = Vec::new();
    for key in keys {
        if let Some(bytes) = store.get(mail_submissions::CF, &key)? {
            rows.push(mail_submissions::decode(&bytes)?);
        }
    }
    Ok(rows)
}

/// The statuses a submission can have, as [`list`] filters them.
pub const STATUSES: [&str; 4] = ["matched", "pending", "refused", "unmatched"];

/// Where a submission stands, from the views alone: (status, the message, the reason).
fn standing(
    store: &Store,
    row: &MailSubmissionRow,
) -> Result<(&'static str, Option<String>, Option<String>), StoreError> {
    if let Some(postern_id) = matched(store, &row.tenant, &row.submission_id)? {
        return Ok(("matched", Some(postern_id), None));
    }
    let Some(record) = find_reported(store, row)? else { return Ok(("unmatched", None, None)) };
    let pid = Some(record.postern_id.clone());
    if record.verdicts.is_empty() {
        return Ok(("pending", pid, None));
    }
    match reclassification(row, &record) {
        Ok(_) => Ok(("pending", pid, None)),
        Err(reason) => Ok(("refused", pid, Some(reason))),
    }
}

/// The tenant's mail submissions, newest first (`status`: only those with it, one of
/// [`STATUSES`]).
pub fn list(store: &Store, tenant: &str, status: Option<&str>, limit: usize) -> Result<MailSubmissionList, StoreError> {
    let mut submissions = Vec::new();
    for row in rows(store, &mail_submissions::prefix(tenant))? {
        let (standing, postern_id, reason) = standing(store, &row)?;
        if status.is_some_and(|want| want != standing) {
            continue;
        }
        submissions.push(MailSubmissionView {
            submission_id: row.submission_id,
            received_at: Timestamp(row.at).to_rfc3339(),
            submitted_as: row.submitted_as.as_str().to_owned(),
            submitted_by: row.submitted_by,
            submission_address: row.submission_address,
            attached: row.attached,
            reported: row.reported,
            status: standing.to_owned(),
            postern_id,
            reason,
            raw_seq: row.raw_seq,
        });
        if submissions.len() >= limit {
            break;
        }
    }
    Ok(MailSubmissionList { submissions })
}

/// The tenant's submission with this id.
pub fn by_id(store: &Store, tenant: &str, submission_id: &str) -> Result<Option<MailSubmissionRow>, StoreError> {
    Ok(rows(store, &mail_submissions::prefix(tenant))?.into_iter().find(|r| r.submission_id == submission_id))
}

/// The message `row` reports, among its tenant's: by Message-ID, else by sender and exact
/// subject (the newest such message).
pub fn find_reported(store: &Store, row: &MailSubmissionRow) -> Result<Option<MessageRecord>, StoreError> {
    if let Some(mid) = row.reported.message_id.as_deref().filter(|m| !m.trim().is_empty())
        && let Some(record) = query::by_message_id(store, &row.tenant, mid)?.into_iter().max_by_key(|r| r.received_at())
    {
        return Ok(Some(record));
    }
    let (Some(from), Some(subject)) = (row.reported.from.as_deref(), row.reported.subject.as_deref()) else {
        return Ok(None);
    };
    let mut filters = vec![(Field::Sender, from.to_ascii_lowercase())];
    filters.extend(search::subject_words(subject).into_iter().map(|w| (Field::SubjectWord, w)));
    let page = query::search(
        store,
        &SearchQuery {
            tenant: row.tenant.clone(),
            from: 0,
            to: u64::MAX,
            postern_id: None,
            filters,
            limit: 20,
            after: None,
        },
    )?;
    for hit in page.messages {
        if hit.subject.as_deref().is_some_and(|s| s.trim().eq_ignore_ascii_case(subject.trim()))
            && let Some(record) = query::by_postern_id(store, &row.tenant, &hit.postern_id)?
        {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// The USER reclassification a matched submission becomes, with its envelope (event id
/// derived from the submission's), or why the decision refuses it.
pub fn reclassification(row: &MailSubmissionRow, record: &MessageRecord) -> Result<(Envelope, Event), String> {
    let command = Command::Submit {
        submission_id: row.submission_id.clone(),
        submission_type: SubmissionType::User,
        requested: row.submitted_as.requested(),
        requested_by: row.submitted_by.clone(),
        comment: format!("reported by mail to {}", row.submission_address),
        client_addr: None,
    };
    let events = decide(record, &command, &DecisionPolicy::default()).map_err(|rejection| rejection.to_string())?;
    let event = events
        .into_iter()
        .find(|e| matches!(e, Event::ReclassificationSubmitted(_)))
        .ok_or("the decision recorded no submission")?;
    Ok((caused_by(row, record, "user-reclassification", &event)?, event))
}

/// The phish submission response (the tenant's `phish_submission_response`): the reported
/// message out of the reporter's own mailbox at once, by the policy's MALICIOUS action (else
/// quarantine), with an id derived from the submission's. None for spam reports, without
/// the policy, or for a message without a Message-ID.
pub fn reporter_response(
    row: &MailSubmissionRow,
    record: &MessageRecord,
    policy: Option<&proto::policy::TenantPolicy>,
) -> Option<(Envelope, Event)> {
    let policy = policy.filter(|p| p.phish_submission_response)?;
    if row.submitted_as != proto::SubmittedAs::Phish {
        return None;
    }
    let action = policy
        .actions
        .get(proto::Disposition::Malicious.as_str())
        .and_then(|a| a.remediation())
        .unwrap_or(proto::RemediationAction::Quarantine);
    let message_id = record.message_id.as_deref().map(str::trim).filter(|m| !m.is_empty())?;
    let submission_event = ulid::Ulid::from_bytes(row.event_id);
    let request = proto::RemediationRequested {
        remediation_id: proto::ids::derive_event_id(submission_event, "reporter-response-request").to_string(),
        message_id: format!("<{}>", message_id.trim_matches(['<', '>'])),
        action,
        mailboxes: vec![row.submitted_by.clone()],
        reason: format!("reported as phish by {} (submission {})", row.submitted_by, row.submission_id),
        requested_by: None,
        client_addr: None,
    };
    let event = Event::RemediationRequested(request);
    Some((caused_by(row, record, "reporter-response", &event).ok()?, event))
}

/// The envelope of an event a submission causes on `record`: its id derived from the
/// submission's with `salt` (a repeat is the same event), caused by it.
fn caused_by(row: &MailSubmissionRow, record: &MessageRecord, salt: &str, event: &Event) -> Result<Envelope, String> {
    let submission_event = ulid::Ulid::from_bytes(row.event_id);
    Ok(crate::reclassify::envelope(
        TenantId::new(&row.tenant).map_err(|e| e.to_string())?,
        PosternId::parse(&record.postern_id).map_err(|e| e.to_string())?,
        proto::ids::derive_event_id(submission_event, salt),
        Some(submission_event),
        event,
    ))
}

/// Matches unmatched submissions until `stop`.
pub async fn run(js: async_nats::jetstream::Context, views: std::sync::Arc<SharedStore>, stop: CancellationToken) {
    let mut published: HashMap<String, tokio::time::Instant> = HashMap::new();
    // Refused by the decision (said once in the log; not tried again by this process).
    let mut refused: std::collections::HashSet<String> = std::collections::HashSet::new();
    // A message with a reclassification published and not folded yet (its submission id):
    // a second report of it waits, so that the decision sees the first.
    let mut unfolded: HashMap<String, String> = HashMap::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(MATCH_EVERY) => {}
        }
        published.retain(|_, at| at.elapsed() < IN_FLIGHT);
        let Ok(store) = views.get() else { continue };
        let pending = match unmatched(&store) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading mail submissions");
                continue;
            }
        };
        for row in pending {
            if published.contains_key(&row.submission_id) || refused.contains(&row.submission_id) {
                continue;
            }
            let found = match find_reported(&store, &row) {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for a reported message");
                    continue;
                }
            };
            // Found, and scored: the reclassification has its original disposition.
            let Some(record) = found.filter(|r| !r.verdicts.is_empty()) else { continue };
            if let Some(first) = unfolded.get(&record.postern_id) {
                if !record.submissions.iter().any(|s| &s.submission_id == first) && published.contains_key(first) {
                    continue;
                }
                unfolded.remove(&record.postern_id);
            }
            let (envelope, event) = match reclassification(&row, &record) {
                Ok(ready) => ready,
                Err(reason) => {
                    // Listed as refused, with the reason (the list asks the views again).
                    tracing::info!(submission = %row.submission_id, postern_id = %record.postern_id, %reason, "mail submission not recorded");
                    refused.insert(row.submission_id.clone());
                    continue;
                }
            };
            // The reporter's own copy first, when the policy asks (a repeat is dropped: its id
            // is derived).
            let policy = match crate::reactor::tenant_policy(&js, &row.tenant).await {
                Ok(policy) => policy,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the tenant's policy; tried again");
                    continue;
                }
            };
            if let Some((envelope, event)) = reporter_response(&row, &record, policy.as_ref())
                && let Err(e) = proto::publish::publish(&js, &envelope, &event, None).await
            {
                tracing::warn!(submission = %row.submission_id, error = %e, "publishing the reporter's response; tried again");
                continue;
            }
            match proto::publish::publish(&js, &envelope, &event, None).await {
                Ok(_) => {
                    tracing::info!(submission = %row.submission_id, postern_id = %record.postern_id, by = %row.submitted_by, "mail submission recorded as a USER reclassification");
                    published.insert(row.submission_id.clone(), tokio::time::Instant::now());
                    unfolded.insert(record.postern_id.clone(), row.submission_id.clone());
                }
                Err(e) => {
                    tracing::warn!(submission = %row.submission_id, error = %e, "publishing a mail submission's reclassification; tried again")
                }
            }
        }
    }
}

/// Every tenant's submissions younger than [`MATCH_FOR`] that are not recorded yet.
fn unmatched(store: &Store) -> Result<Vec<MailSubmissionRow>, StoreError> {
    let cutoff = Timestamp::now().millis().saturating_sub(MATCH_FOR.as_millis() as u64);
    let mut pending = Vec::new();
    for row in rows(store, &[])? {
        if row.at >= cutoff && matched(store, &row.tenant, &row.submission_id)?.is_none() {
            pending.push(row);
        }
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(submitted_as: proto::SubmittedAs) -> MailSubmissionRow {
        MailSubmissionRow {
            tenant: "default".into(),
            at: 1_787_931_155_120,
            event_id: ulid::Ulid::from_parts(1_787_931_155_120, 9).to_bytes(),
            submission_id: "01KAR5QB1R8V2T9X4K6D3F7H5K".into(),
            submitted_as,
            submitted_by: "bob@corp.example".into(),
            submission_address: "phish@corp.example".into(),
            reported: proto::ReportedMessage::default(),
            attached: true,
            raw_seq: 7,
        }
    }

    #[test]
    fn a_phish_report_moves_the_reporters_copy_when_the_policy_says_so() {
        let mut record = MessageRecord::new("default", "n4g1QyHXcfZgMcu");
        record.message_id = Some("m@x.example".into());
        let mut policy: proto::policy::TenantPolicy =
            toml::from_str("[actions]\nMALICIOUS = \"move_to_junk\"\n").unwrap();
        assert!(reporter_response(&row(proto::SubmittedAs::Phish), &record, Some(&policy)).is_none(), "not asked");
        policy.phish_submission_response = true;
        let (envelope, event) = reporter_response(&row(proto::SubmittedAs::Phish), &record, Some(&policy)).unwrap();
        let Event::RemediationRequested(request) = event else { panic!() };
        assert_eq!(request.mailboxes, vec!["bob@corp.example"]);
        assert_eq!(request.action, proto::RemediationAction::MoveToJunk);
        assert_eq!(request.message_id, "<m@x.example>");
        // The same submission gives the same ids: a repeat is dropped.
        let (again, _) = reporter_response(&row(proto::SubmittedAs::Phish), &record, Some(&policy)).unwrap();
        assert_eq!(envelope.event_id, again.event_id);
        assert!(reporter_response(&row(proto::SubmittedAs::Spam), &record, Some(&policy)).is_none(), "spam: no");
        let no_action: proto::policy::TenantPolicy = toml::from_str("phish_submission_response = true\n").unwrap();
        let (_, event) = reporter_response(&row(proto::SubmittedAs::Phish), &record, Some(&no_action)).unwrap();
        let Event::RemediationRequested(request) = event else { panic!() };
        assert_eq!(request.action, proto::RemediationAction::Quarantine);
    }
}
