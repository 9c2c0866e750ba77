//! Autolearning: the scorer teaches the tenant's token classifier the spam it is sure of,
//! as SpamAssassin's AutoLearnThreshold does for its Bayes database, so that a tenant's
//! classifier learns the spam of its own mail stream (its languages, its senders' trades)
//! without waiting for an analyst.
//!
//! A message is learned as spam when SpamAssassin's rules would autolearn it
//! ([`crate::analysis::spamassassin_rules::SPAMASSASSIN_AUTOLEARN`]: 12 points or more by
//! default, at least 3 from header rules and 3 from body rules, GTUBE and the block lists
//! not counted) and the verdict agrees (a threat or spam disposition: a tenant's allow list,
//! which makes it NONE, keeps it from being learned). The lesson is a `MessageLabelled` on
//! the tenant's training subject, with the copy's content digest and its stored body: every
//! scorer folds it as it folds an analyst's reclassification, it is replayed with the
//! stream, and a person's label for the same message (any of its copies) takes its place
//! ([`crate::learner`]). Nothing is learned as ham: mail that SpamAssassin's rules miss
//! entirely is too often spam (measured on the corpus: taught as ham, it lowered what the
//! classifier caught).

use crate::analysis::spamassassin_rules::SPAMASSASSIN_AUTOLEARN;
use crate::score::Verdict;
use proto::{Disposition, Envelope, Event, EventType, MailBody, MessageLabelled, TrainingLabel, ids};

/// The `source` of an autolearned example: `autolearn:<postern id>`.
pub const SOURCE_PREFIX: &str = "autolearn:";

/// What the verdict teaches on its own: spam, when SpamAssassin's rules would autolearn it
/// and the disposition is a threat or spam.
pub fn label_for(verdict: &Verdict) -> Option<TrainingLabel> {
    let caught = matches!(
        verdict.disposition,
        Disposition::Malicious | Disposition::Suspicious | Disposition::Spoof | Disposition::Spam
    );
    (caught && verdict.detections.iter().any(|d| d.name == SPAMASSASSIN_AUTOLEARN)).then_some(TrainingLabel::Spam)
}

/// The training event that teaches it: in the message's tenant, its id derived from the
/// disposition's (a redelivered message asks once), caused by the disposition.
pub fn lesson(
    disposition: &Envelope,
    label: TrainingLabel,
    content_digest: &str,
    body: MailBody,
    producer: &str,
) -> (Envelope, Event) {
    let envelope = Envelope {
        event_id: ids::derive_event_id(disposition.event_id, "autolearn"),
        event_type: EventType::MessageLabelled,
        schema: EventType::MessageLabelled.current_schema(),
        tenant: disposition.tenant.clone(),
        postern_id: disposition.postern_id.clone(),
        causation_id: Some(disposition.event_id),
        occurred_at: disposition.occurred_at,
        producer: producer.to_owned(),
    };
    let event = Event::MessageLabelled(MessageLabelled {
        label,
        source: format!("{SOURCE_PREFIX}{}", disposition.postern_id),
        content_digest: content_digest.to_owned(),
        body,
    });
    (envelope, event)
}

/// Whether an example's source says it was autolearned.
pub fn is_autolearned(source: &str) -> bool {
    source.starts_with(SOURCE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{Detection, PosternId, TenantId, Timestamp};

    fn verdict(disposition: Disposition, autolearn: bool) -> Verdict {
        let mut detections =
            vec![Detection { name: "sa:MSGID_SPAM_CAPS".into(), score_milli: 2366, evidence: "".into() }];
        if autolearn {
            detections.push(Detection { name: SPAMASSASSIN_AUTOLEARN.into(), score_milli: 0, evidence: "".into() });
        }
        Verdict { disposition, attributes: Vec::new(), detections, headers: Default::default(), fingerprint: None }
    }

    #[test]
    fn spam_is_learned_only_when_the_rules_would_and_the_verdict_agrees() {
        assert_eq!(label_for(&verdict(Disposition::Spam, true)), Some(TrainingLabel::Spam));
        assert_eq!(label_for(&verdict(Disposition::Suspicious, true)), Some(TrainingLabel::Spam));
        // The rules alone, without the verdict (an allowed sender, bulk mail): nothing.
        assert_eq!(label_for(&verdict(Disposition::None, true)), None);
        assert_eq!(label_for(&verdict(Disposition::Bulk, true)), None);
        // A spam verdict without the rules' autolearn points: nothing either.
        assert_eq!(label_for(&verdict(Disposition::Spam, false)), None);
    }

    #[test]
    fn the_lesson_is_the_tenants_derived_from_the_disposition() {
        let tenant = TenantId::new("acme").unwrap();
        let disposition = Envelope {
            event_id: ulid::Ulid::new(),
            event_type: EventType::DispositionAssigned,
            schema: EventType::DispositionAssigned.current_schema(),
            tenant: tenant.clone(),
            postern_id: PosternId::from_message_id(&tenant, "<a@b.example>"),
            causation_id: None,
            occurred_at: Timestamp::now(),
            producer: "postern-scorer".into(),
        };
        let body = MailBody::Inline(b"Subject: x\r\n\r\nbody\r\n".to_vec());
        let (envelope, event) = lesson(&disposition, TrainingLabel::Spam, "00ff", body.clone(), "postern-scorer");
        let again = lesson(&disposition, TrainingLabel::Spam, "00ff", body, "postern-scorer");
        assert_eq!(envelope.event_id, again.0.event_id, "a redelivery publishes the same event id");
        assert_ne!(envelope.event_id, disposition.event_id);
        assert_eq!(envelope.causation_id, Some(disposition.event_id));
        assert_eq!((envelope.tenant.as_str(), envelope.event_type), ("acme", EventType::MessageLabelled));
        let Event::MessageLabelled(labelled) = event else { panic!("a MessageLabelled") };
        assert!(is_autolearned(&labelled.source), "{}", labelled.source);
        assert_eq!((labelled.label, labelled.content_digest.as_str()), (TrainingLabel::Spam, "00ff"));
        assert!(!is_autolearned("reclassification:01J") && !is_autolearned("corpus:spam/1.eml"));
    }
}
