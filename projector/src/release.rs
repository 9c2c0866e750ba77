//! Releasing a message that Postern moved: one `RemediationRequested` with the action
//! `restore`, for every mailbox that an earlier request moved the message out of, which the
//! remediator carries out like any other (IMAP, Graph, Gmail) and records per mailbox in the
//! trace. An admin's: `POST /api/v1/messages/{postern_id}/release`, `projector release`.
//! Withdrawing an accepted reclassification that moved mail answers with the release to make.

use crate::view::message::{MessageRecord, RemediationRequest};
use proto::{RemediationAction, RemediationRequested};

/// Why a message cannot be released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseRefused {
    #[error("nothing of this message was moved: no remediation to undo")]
    NothingMoved,
    #[error("the message has no Message-ID: no mailbox can find it")]
    NoMessageId,
    #[error("already released by remediation {0}, after the last move")]
    AlreadyReleased(String),
}

/// Whether a request moved mail that a release can put back (a permanent delete left
/// nothing to put back; a release moves nothing out).
fn is_move(request: &RemediationRequest) -> bool {
    !matches!(request.action, RemediationAction::Restore | RemediationAction::HardDelete)
}

/// The index of the last request of `record` (they are in the order they occurred) that
/// `matches` and moved mail, when no release came after it.
fn last_unreleased_move(
    record: &MessageRecord,
    matches: impl Fn(&RemediationRequest) -> bool,
) -> Result<usize, ReleaseRefused> {
    let last =
        record.remediations.iter().rposition(|r| is_move(r) && matches(r)).ok_or(ReleaseRefused::NothingMoved)?;
    match record.remediations[last..].iter().find(|r| r.action == RemediationAction::Restore) {
        Some(release) => Err(ReleaseRefused::AlreadyReleased(release.remediation_id.clone())),
        None => Ok(last),
    }
}

/// Whether the acceptance of `submission_id` requested a move that no release undid since
/// (the reactor's requests name the submission in their reason).
pub fn moved_by_submission(record: &MessageRecord, submission_id: &str) -> bool {
    let marker = format!("(reclassification {submission_id})");
    last_unreleased_move(record, |r| r.reason.ends_with(&marker)).is_ok()
}

/// Whether a release of `record` has something to undo (what a withdrawal's answer offers).
pub fn available(record: &MessageRecord) -> bool {
    plan(record, "", String::new()).is_ok()
}

/// The release of `record`: every mailbox a move named, back to the inbox. Pure.
pub fn plan(
    record: &MessageRecord,
    remediation_id: &str,
    reason: String,
) -> Result<RemediationRequested, ReleaseRefused> {
    last_unreleased_move(record, |_| true)?;
    let message_id =
        record.message_id.as_deref().map(str::trim).filter(|m| !m.is_empty()).ok_or(ReleaseRefused::NoMessageId)?;
    let mut mailboxes: Vec<String> =
        record.remediations.iter().filter(|r| is_move(r)).flat_map(|r| r.mailboxes.iter().cloned()).collect();
    mailboxes.sort();
    mailboxes.dedup();
    Ok(RemediationRequested {
        remediation_id: remediation_id.to_owned(),
        message_id: format!("<{}>", message_id.trim_matches(['<', '>'])),
        action: RemediationAction::Restore,
        mailboxes,
        reason,
        requested_by: None,
        client_addr: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::message::{Position, Stamp};

    fn record(actions: &[(u64, RemediationAction, &[&str])]) -> MessageRecord {
        let mut r: MessageRecord = serde_json::from_value(serde_json::json!({
            "tenant": "default", "postern_id": "n4g1QyHXcfZgMcu", "message_id": "m@x", "copies": [], "verdicts": [],
            "headers": null, "submissions": [], "resolutions": [], "remediations": [], "remediation_results": []
        }))
        .unwrap();
        for (at, action, mailboxes) in actions {
            r.remediations.push(RemediationRequest {
                stamp: Stamp {
                    event_id: ulid::Ulid::from_parts(*at, 1).to_bytes(),
                    at: *at,
                    position: Position { stream: "MAIL_EVENTS".into(), seq: *at },
                },
                remediation_id: format!("r{at}"),
                action: *action,
                mailboxes: mailboxes.iter().map(|m| m.to_string()).collect(),
                reason: String::new(),
            });
        }
        r
    }

    #[test]
    fn a_release_undoes_every_move_once() {
        use RemediationAction::*;
        assert_eq!(plan(&record(&[]), "x", String::new()), Err(ReleaseRefused::NothingMoved));
        assert_eq!(plan(&record(&[(1, HardDelete, &["a"])]), "x", String::new()), Err(ReleaseRefused::NothingMoved));
        let moved = record(&[(1, Quarantine, &["b", "a"]), (2, MoveToJunk, &["c", "a"])]);
        let release = plan(&moved, "rel-1", "released by admin".into()).unwrap();
        assert_eq!(release.mailboxes, vec!["a", "b", "c"]);
        assert_eq!((release.action, release.message_id.as_str()), (Restore, "<m@x>"));
        assert!(available(&moved));
        let released = record(&[(1, Quarantine, &["a"]), (2, Restore, &["a"])]);
        assert_eq!(plan(&released, "x", String::new()), Err(ReleaseRefused::AlreadyReleased("r2".into())));
        assert!(!available(&released));
        // Moved again after a release: released again.
        let again = record(&[(1, Quarantine, &["a"]), (2, Restore, &["a"]), (3, MoveToJunk, &["a"])]);
        assert!(plan(&again, "x", String::new()).is_ok());
    }
}
