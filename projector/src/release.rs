//! Releasing a message that Postern moved: one `RemediationRequested` with the action
//! `restore`, for every mailbox that an earlier request moved the message out of, which the
//! remediator carries out like any other (IMAP, Graph, Gmail) and records per mailbox in the
//! trace. An admin's: `POST /api/v1/messages/{postern_id}/release`, `projector release`.
//! Withdrawing an accepted reclassification that moved mail answers with the release to make.

use crate::view::message::MessageRecord;
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

/// The moving requests of `record` (a permanent delete left nothing to put back).
fn moves(record: &MessageRecord) -> impl Iterator<Item = &crate::view::message::RemediationRequest> {
    record
        .remediations
        .iter()
        .filter(|r| !matches!(r.action, RemediationAction::Restore | RemediationAction::HardDelete))
}

/// Whether the acceptance of `submission_id` requested a move that no release undid since
/// (the reactor's requests name the submission in their reason).
pub fn moved_by_submission(record: &MessageRecord, submission_id: &str) -> bool {
    let marker = format!("(reclassification {submission_id})");
    let Some(moved) = record.remediations.iter().rposition(|r| {
        r.reason.ends_with(&marker) && !matches!(r.action, RemediationAction::Restore | RemediationAction::HardDelete)
    }) else {
        return false;
    };
    !record.remediations[moved..].iter().any(|r| r.action == RemediationAction::Restore)
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
    // The requests are in the order they occurred.
    let is_move = |r: &&crate::view::message::RemediationRequest| {
        !matches!(r.action, RemediationAction::Restore | RemediationAction::HardDelete)
    };
    let last_move = record.remediations.iter().rposition(|r| is_move(&r)).ok_or(ReleaseRefused::NothingMoved)?;
    if let Some(release) = record.remediations[last_move..].iter().find(|r| r.action == RemediationAction::Restore) {
        return Err(ReleaseRefused::AlreadyReleased(release.remediation_id.clone()));
    }
    let message_id =
        record.message_id.as_deref().map(str::trim).filter(|m| !m.is_empty()).ok_or(ReleaseRefused::NoMessageId)?;
    let mut mailboxes: Vec<String> = moves(record).flat_map(|r| r.mailboxes.iter().cloned()).collect();
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
    use crate::view::message::{Position, RemediationRequest, Stamp};

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
