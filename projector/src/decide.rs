//! The write model of reclassification: what a command does to a message, decided by a pure
//! function of the message's record (the fold of its events), the command and the parts of
//! the tenant's policy a decision depends on. [`decide`] returns the events to publish or a typed [`Rejection`]; it
//! does no I/O and knows nothing of HTTP (the API maps a rejection to a status). The events
//! change the views when the projector folds them, as every other event does.

use crate::view::message::MessageRecord;
pub use crate::view::message::SubmissionStatus;
use proto::policy::TenantPolicy;
use proto::{
    DecidedRemediation, Disposition, Event, ReclassificationOutcome, ReclassificationResolved,
    ReclassificationSubmitted, RemediationAction, SubmissionType,
};
use std::collections::BTreeMap;
use thiserror::Error;

/// What of the tenant's policy a decision depends on, read when it is made: an accepted
/// decision carries the post-delivery action in its event, so that a replay of the log
/// reacts as the decision did, whatever the policy says by then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionPolicy {
    /// Team submissions wait for a second analyst's decision too (else a team's submission
    /// is the team's decision, accepted at once).
    pub review_team_submissions: bool,
    /// The post-delivery action for each final disposition the policy acts on.
    pub remediation: BTreeMap<Disposition, RemediationAction>,
    /// Who asks is known (a token's name, not what a request says): a submission that
    /// awaits a decision cannot be accepted or rejected by who submitted it.
    pub four_eyes: bool,
    /// A withdrawal of an accepted submission whose action moved mail releases it.
    pub release_on_withdraw: bool,
}

impl DecisionPolicy {
    /// The parts of a tenant's policy (none: the defaults, no review and no action).
    pub fn of(policy: Option<&TenantPolicy>) -> Self {
        let Some(policy) = policy else { return DecisionPolicy::default() };
        DecisionPolicy {
            four_eyes: false,
            review_team_submissions: policy.review_team_submissions,
            release_on_withdraw: policy.release_on_withdraw,
            remediation: Disposition::ALL
                .into_iter()
                .filter_map(|d| Some((d, policy.actions.get(d.as_str())?.remediation()?)))
                .collect(),
        }
    }

    /// What an acceptance that leaves `disposition` in force does in the mailboxes.
    fn remediation_for(&self, disposition: Disposition) -> DecidedRemediation {
        self.remediation.get(&disposition).map_or(DecidedRemediation::Nothing, |a| DecidedRemediation::Act(*a))
    }
}

/// What an analyst or a user asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Submit {
        /// Chosen by the caller (a ULID), so that the command is a pure input.
        submission_id: String,
        submission_type: SubmissionType,
        requested: Disposition,
        requested_by: String,
        comment: String,
        /// Where the request came from (the API's peer), for the audit trail.
        client_addr: Option<String>,
    },
    Resolve {
        submission_id: String,
        outcome: ReclassificationOutcome,
        resolved_by: String,
        comment: String,
        client_addr: Option<String>,
    },
}

/// Why a command changes nothing. The HTTP layer maps each to a status (not found 404,
/// ambiguous and invalid 400, conflict 409); a `Forbidden` has its place here when API
/// roles arrive.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    /// The command names a submission the message does not have.
    #[error("no submission {0}")]
    NotFound(String),
    /// The command names a message the tenant does not have.
    #[error("no message {0}")]
    NoMessage(String),
    /// The command names a message by a Message-ID that several messages carry.
    #[error("{count} messages carry Message-ID {message_id}; name one by postern_id")]
    Ambiguous { message_id: String, count: usize },
    /// The command itself is malformed (which field, and why).
    #[error("{0}")]
    Invalid(String),
    /// The message's state does not allow it (already so, a duplicate pending, decided).
    #[error("{0}")]
    Conflict(String),
    /// Who asks may not do this (deciding on their own submission).
    #[error("{0}")]
    Forbidden(String),
}

/// The events a command causes on a message, in order, or why it causes none.
pub fn decide(record: &MessageRecord, command: &Command, policy: &DecisionPolicy) -> Result<Vec<Event>, Rejection> {
    match command {
        Command::Submit { submission_id, submission_type, requested, requested_by, comment, client_addr } => {
            let original = final_disposition(record, None);
            if original == *requested {
                return Err(Rejection::Conflict(format!(
                    "message {} is already {}",
                    record.postern_id,
                    original.as_str()
                )));
            }
            for same in
                record.submissions.iter().filter(|s| s.requested == *requested && s.submission_type == *submission_type)
            {
                if status(record, &same.submission_id) == SubmissionStatus::Pending {
                    return Err(Rejection::Conflict(format!(
                        "submission {} asks for the same and is pending",
                        same.submission_id
                    )));
                }
            }
            let mut events = vec![Event::ReclassificationSubmitted(ReclassificationSubmitted {
                submission_id: submission_id.clone(),
                submission_type: *submission_type,
                requested_by: requested_by.clone(),
                original,
                requested: *requested,
                comment: comment.clone(),
                client_addr: client_addr.clone(),
            })];
            if *submission_type == SubmissionType::Team && !policy.review_team_submissions {
                events.push(Event::ReclassificationResolved(ReclassificationResolved {
                    submission_id: submission_id.clone(),
                    outcome: ReclassificationOutcome::Accepted,
                    resolved_by: requested_by.clone(),
                    final_disposition: *requested,
                    comment: "TEAM submission, accepted at once".to_owned(),
                    remediation: policy.remediation_for(*requested),
                    client_addr: client_addr.clone(),
                }));
            }
            Ok(events)
        }
        Command::Resolve { submission_id, outcome, resolved_by, comment, client_addr } => {
            let submission = record
                .submissions
                .iter()
                .find(|s| s.submission_id == *submission_id)
                .ok_or_else(|| Rejection::NotFound(submission_id.clone()))?;
            let current = status(record, submission_id);
            let allowed = match outcome {
                ReclassificationOutcome::Accepted | ReclassificationOutcome::Rejected => {
                    current == SubmissionStatus::Pending
                }
                ReclassificationOutcome::Withdrawn => {
                    matches!(current, SubmissionStatus::Pending | SubmissionStatus::Accepted)
                }
            };
            if !allowed {
                return Err(Rejection::Conflict(format!(
                    "submission {submission_id} is {}; it cannot be {}",
                    current.as_str(),
                    outcome.as_str()
                )));
            }
            if policy.four_eyes
                && *outcome != ReclassificationOutcome::Withdrawn
                && submission.requested_by == *resolved_by
            {
                return Err(Rejection::Forbidden(format!(
                    "submission {submission_id} was asked by {resolved_by}: someone else decides on it"
                )));
            }
            // The disposition in force once this decision is folded.
            let final_disposition = match outcome {
                ReclassificationOutcome::Accepted => submission.requested,
                ReclassificationOutcome::Rejected => final_disposition(record, None),
                ReclassificationOutcome::Withdrawn => final_disposition(record, Some(submission_id)),
            };
            let remediation = match outcome {
                ReclassificationOutcome::Accepted => policy.remediation_for(final_disposition),
                // What the accepted submission moved goes back, when the policy says so.
                ReclassificationOutcome::Withdrawn
                    if policy.release_on_withdraw && crate::release::moved_by_submission(record, submission_id) =>
                {
                    DecidedRemediation::Act(RemediationAction::Restore)
                }
                ReclassificationOutcome::Rejected | ReclassificationOutcome::Withdrawn => DecidedRemediation::Nothing,
            };
            Ok(vec![Event::ReclassificationResolved(ReclassificationResolved {
                submission_id: submission_id.clone(),
                outcome: *outcome,
                resolved_by: resolved_by.clone(),
                final_disposition,
                comment: comment.clone(),
                remediation,
                client_addr: client_addr.clone(),
            })])
        }
    }
}

/// Where a submission of the record stands ([`MessageRecord::status_of`]).
pub fn status(record: &MessageRecord, submission_id: &str) -> SubmissionStatus {
    record.status_of(submission_id).0
}

/// The disposition in force, leaving out what `ignoring`'s acceptance decided (as after its
/// withdrawal): [`MessageRecord::disposition_in_force`]; NONE for a message not scored yet.
pub fn final_disposition(record: &MessageRecord, ignoring: Option<&str>) -> Disposition {
    record.disposition_in_force(ignoring).unwrap_or(Disposition::None)
}

#[cfg(test)]
mod tests {
    //! Given a message's events, when a command comes, then these events (or this
    //! rejection). The record is built the way the projector builds it: by folding events.
    use super::*;
    use crate::view::message::{Resolution, Stamp, Submission, Verdict};

    fn stamp(n: u8) -> Stamp {
        Stamp { event_id: [n; 16], at: u64::from(n), position: Default::default() }
    }

    /// A message scored `disposition`.
    fn scored(disposition: Disposition) -> MessageRecord {
        let mut record = MessageRecord::new("t", "pid-1");
        record.verdicts.push(Verdict {
            event_id: [1; 16],
            at: 1,
            position: Default::default(),
            disposition,
            attributes: Vec::new(),
            detections: Vec::new(),
            rules_version: "test".into(),
            alert_id: String::new(),
        });
        record
    }

    fn submitted(record: &mut MessageRecord, id: &str, kind: SubmissionType, requested: Disposition) {
        let n = 10 + record.submissions.len() as u8;
        record.submissions.push(Submission {
            stamp: stamp(n),
            submission_id: id.into(),
            submission_type: kind,
            requested_by: "alice".into(),
            original: Disposition::None,
            requested,
            comment: String::new(),
        });
    }

    fn resolved(
        record: &mut MessageRecord,
        id: &str,
        outcome: ReclassificationOutcome,
        final_disposition: Disposition,
    ) {
        let n = 50 + record.resolutions.len() as u8;
        record.resolutions.push(Resolution {
            stamp: stamp(n),
            submission_id: id.into(),
            outcome,
            resolved_by: "bob".into(),
            final_disposition,
            comment: String::new(),
        });
    }

    fn submit(kind: SubmissionType, requested: Disposition) -> Command {
        Command::Submit {
            submission_id: "s-new".into(),
            submission_type: kind,
            requested,
            requested_by: "alice".into(),
            comment: "looks bad".into(),
            client_addr: None,
        }
    }

    fn resolve(id: &str, outcome: ReclassificationOutcome) -> Command {
        Command::Resolve {
            submission_id: id.into(),
            outcome,
            resolved_by: "bob".into(),
            comment: String::new(),
            client_addr: None,
        }
    }

    fn outcomes(events: &[Event]) -> Vec<(String, ReclassificationOutcome, Disposition)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ReclassificationResolved(r) => Some((r.submission_id.clone(), r.outcome, r.final_disposition)),
                _ => None,
            })
            .collect()
    }

    const NO_REVIEW: DecisionPolicy = DecisionPolicy {
        review_team_submissions: false,
        remediation: BTreeMap::new(),
        four_eyes: false,
        release_on_withdraw: false,
    };
    const REVIEW: DecisionPolicy = DecisionPolicy {
        review_team_submissions: true,
        remediation: BTreeMap::new(),
        four_eyes: false,
        release_on_withdraw: false,
    };

    #[test]
    fn with_known_names_a_submitter_cannot_decide_on_their_own_submission() {
        let mut record = scored(Disposition::None);
        submitted(&mut record, "s-1", SubmissionType::User, Disposition::Spam);
        let four_eyes = DecisionPolicy { four_eyes: true, ..NO_REVIEW };
        let by = |who: &str, outcome| Command::Resolve {
            submission_id: "s-1".into(),
            outcome,
            resolved_by: who.into(),
            comment: String::new(),
            client_addr: None,
        };
        for outcome in [ReclassificationOutcome::Accepted, ReclassificationOutcome::Rejected] {
            let e = decide(&record, &by("alice", outcome), &four_eyes).unwrap_err();
            assert!(matches!(&e, Rejection::Forbidden(m) if m.contains("asked by alice")), "{e:?}");
            assert!(decide(&record, &by("bob", outcome), &four_eyes).is_ok());
            assert!(decide(&record, &by("alice", outcome), &NO_REVIEW).is_ok(), "names not known: not checked");
        }
        assert!(
            decide(&record, &by("alice", ReclassificationOutcome::Withdrawn), &four_eyes).is_ok(),
            "withdrawing is hers"
        );
    }

    fn remediations(events: &[Event]) -> Vec<DecidedRemediation> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ReclassificationResolved(r) => Some(r.remediation),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_acceptance_carries_the_action_the_policy_names_for_its_disposition_and_nothing_else_does() {
        let mut tenant = TenantPolicy::default();
        tenant.actions.insert("MALICIOUS".into(), proto::policy::Action::Quarantine);
        tenant.actions.insert("SPAM".into(), proto::policy::Action::None);
        let policy = DecisionPolicy::of(Some(&tenant));
        assert_eq!(policy.remediation, BTreeMap::from([(Disposition::Malicious, RemediationAction::Quarantine)]));
        let quarantine = DecidedRemediation::Act(RemediationAction::Quarantine);

        let record = scored(Disposition::None);
        let events = decide(&record, &submit(SubmissionType::Team, Disposition::Malicious), &policy).unwrap();
        assert_eq!(remediations(&events), [quarantine], "a team's submission, accepted at once");
        let events = decide(&record, &submit(SubmissionType::Team, Disposition::Spam), &policy).unwrap();
        assert_eq!(remediations(&events), [DecidedRemediation::Nothing], "the policy's action for SPAM is none");

        let mut record = scored(Disposition::None);
        submitted(&mut record, "s-1", SubmissionType::User, Disposition::Malicious);
        let accept = decide(&record, &resolve("s-1", ReclassificationOutcome::Accepted), &policy).unwrap();
        assert_eq!(remediations(&accept), [quarantine]);
        let reject = decide(&record, &resolve("s-1", ReclassificationOutcome::Rejected), &policy).unwrap();
        assert_eq!(remediations(&reject), [DecidedRemediation::Nothing]);
        let withdraw = decide(&record, &resolve("s-1", ReclassificationOutcome::Withdrawn), &policy).unwrap();
        assert_eq!(remediations(&withdraw), [DecidedRemediation::Nothing]);
        let no_policy = decide(&record, &resolve("s-1", ReclassificationOutcome::Accepted), &NO_REVIEW).unwrap();
        assert_eq!(remediations(&no_policy), [DecidedRemediation::Nothing], "no policy, no action");
    }

    #[test]
    fn a_team_submission_is_accepted_at_once_unless_the_policy_wants_review() {
        let record = scored(Disposition::None);
        let events = decide(&record, &submit(SubmissionType::Team, Disposition::Malicious), &NO_REVIEW).unwrap();
        assert_eq!(events.len(), 2);
        let Event::ReclassificationSubmitted(s) = &events[0] else { panic!("{events:?}") };
        assert_eq!((s.original, s.requested), (Disposition::None, Disposition::Malicious));
        assert_eq!(
            outcomes(&events),
            vec![("s-new".to_owned(), ReclassificationOutcome::Accepted, Disposition::Malicious)]
        );

        let events = decide(&record, &submit(SubmissionType::Team, Disposition::Malicious), &REVIEW).unwrap();
        assert_eq!(events.len(), 1, "waits for a decision: {events:?}");
    }

    #[test]
    fn a_user_submission_always_waits_for_a_decision() {
        let events =
            decide(&scored(Disposition::None), &submit(SubmissionType::User, Disposition::Spam), &NO_REVIEW).unwrap();
        assert!(matches!(events.as_slice(), [Event::ReclassificationSubmitted(_)]), "{events:?}");
    }

    #[test]
    fn asking_for_the_disposition_in_force_is_a_conflict() {
        let rejected = decide(&scored(Disposition::Spam), &submit(SubmissionType::User, Disposition::Spam), &NO_REVIEW);
        assert_eq!(rejected, Err(Rejection::Conflict("message pid-1 is already SPAM".into())));
    }

    #[test]
    fn the_same_request_pending_is_a_conflict_and_once_decided_it_is_not() {
        let mut record = scored(Disposition::None);
        submitted(&mut record, "s-1", SubmissionType::User, Disposition::Spam);
        let again = submit(SubmissionType::User, Disposition::Spam);
        assert_eq!(
            decide(&record, &again, &NO_REVIEW),
            Err(Rejection::Conflict("submission s-1 asks for the same and is pending".into()))
        );
        // Another type, or another disposition, is another request.
        assert!(decide(&record, &submit(SubmissionType::Team, Disposition::Spam), &REVIEW).is_ok());
        assert!(decide(&record, &submit(SubmissionType::User, Disposition::Malicious), &REVIEW).is_ok());
        resolved(&mut record, "s-1", ReclassificationOutcome::Rejected, Disposition::None);
        assert!(decide(&record, &again, &NO_REVIEW).is_ok(), "after a rejection it may be asked again");
    }

    #[test]
    fn a_decision_needs_a_pending_submission() {
        let mut record = scored(Disposition::None);
        assert_eq!(
            decide(&record, &resolve("s-9", ReclassificationOutcome::Accepted), &NO_REVIEW),
            Err(Rejection::NotFound("s-9".into()))
        );
        submitted(&mut record, "s-1", SubmissionType::User, Disposition::Spam);
        let events = decide(&record, &resolve("s-1", ReclassificationOutcome::Accepted), &NO_REVIEW).unwrap();
        assert_eq!(outcomes(&events), vec![("s-1".to_owned(), ReclassificationOutcome::Accepted, Disposition::Spam)]);
        let events = decide(&record, &resolve("s-1", ReclassificationOutcome::Rejected), &NO_REVIEW).unwrap();
        assert_eq!(outcomes(&events), vec![("s-1".to_owned(), ReclassificationOutcome::Rejected, Disposition::None)]);

        resolved(&mut record, "s-1", ReclassificationOutcome::Rejected, Disposition::None);
        for outcome in
            [ReclassificationOutcome::Accepted, ReclassificationOutcome::Rejected, ReclassificationOutcome::Withdrawn]
        {
            assert_eq!(
                decide(&record, &resolve("s-1", outcome), &NO_REVIEW),
                Err(Rejection::Conflict(format!("submission s-1 is REJECTED; it cannot be {}", outcome.as_str())))
            );
        }
    }

    #[test]
    fn withdrawing_an_accepted_submission_restores_what_was_in_force_before_it() {
        let mut record = scored(Disposition::Bulk);
        submitted(&mut record, "s-1", SubmissionType::Team, Disposition::Spam);
        resolved(&mut record, "s-1", ReclassificationOutcome::Accepted, Disposition::Spam);
        submitted(&mut record, "s-2", SubmissionType::Team, Disposition::Malicious);
        resolved(&mut record, "s-2", ReclassificationOutcome::Accepted, Disposition::Malicious);
        assert_eq!(final_disposition(&record, None), Disposition::Malicious);
        // Withdrawing the latest: the earlier acceptance is in force again.
        let events = decide(&record, &resolve("s-2", ReclassificationOutcome::Withdrawn), &NO_REVIEW).unwrap();
        assert_eq!(outcomes(&events), vec![("s-2".to_owned(), ReclassificationOutcome::Withdrawn, Disposition::Spam)]);
        // Withdrawing the earlier: the latest stays in force.
        let events = decide(&record, &resolve("s-1", ReclassificationOutcome::Withdrawn), &NO_REVIEW).unwrap();
        assert_eq!(
            outcomes(&events),
            vec![("s-1".to_owned(), ReclassificationOutcome::Withdrawn, Disposition::Malicious)]
        );
        // Both withdrawn: the verdict again.
        resolved(&mut record, "s-2", ReclassificationOutcome::Withdrawn, Disposition::Spam);
        let events = decide(&record, &resolve("s-1", ReclassificationOutcome::Withdrawn), &NO_REVIEW).unwrap();
        assert_eq!(outcomes(&events), vec![("s-1".to_owned(), ReclassificationOutcome::Withdrawn, Disposition::Bulk)]);
        // A withdrawn submission cannot be withdrawn again.
        resolved(&mut record, "s-1", ReclassificationOutcome::Withdrawn, Disposition::Bulk);
        assert!(matches!(
            decide(&record, &resolve("s-1", ReclassificationOutcome::Withdrawn), &NO_REVIEW),
            Err(Rejection::Conflict(_))
        ));
    }

    #[test]
    fn a_decision_folded_before_its_request_counts_once_the_request_is_there() {
        // Events of two streams can be folded out of order: the decision first.
        let mut record = scored(Disposition::None);
        resolved(&mut record, "s-1", ReclassificationOutcome::Accepted, Disposition::Spam);
        assert_eq!(status(&record, "s-1"), SubmissionStatus::Accepted);
        assert_eq!(
            decide(&record, &resolve("s-1", ReclassificationOutcome::Withdrawn), &NO_REVIEW),
            Err(Rejection::NotFound("s-1".into())),
            "no decision on a request the record does not hold yet"
        );
        submitted(&mut record, "s-1", SubmissionType::User, Disposition::Spam);
        assert_eq!(final_disposition(&record, None), Disposition::Spam);
        let events = decide(&record, &resolve("s-1", ReclassificationOutcome::Withdrawn), &NO_REVIEW).unwrap();
        assert_eq!(outcomes(&events), vec![("s-1".to_owned(), ReclassificationOutcome::Withdrawn, Disposition::None)]);
    }
}
