//! The message view: everything known about one message, folded from its events.
//!
//! The fold is order-insensitive across streams: copies and dispositions are kept sorted
//! by (occurred_at, event_id), and everything derived (recipients, final disposition) is
//! computed from those sorted lists. A repeated event (same id) changes nothing.

use proto::{
    Disposition, DispositionAssigned, Envelope, Event, HeaderSummary, RawMailReceived, ReclassificationOutcome,
    ReclassificationResolved, ReclassificationSubmitted, RemediationAction, RemediationCompleted, RemediationOutcome,
    RemediationRequested, SubmissionType,
};
use serde::{Deserialize, Serialize};

/// Where an event was read: stream name and sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub stream: String,
    pub seq: u64,
}

/// One accepted copy of the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copy {
    pub event_id: [u8; 16],
    pub at: u64,
    pub position: Position,
    pub envelope_sender: String,
    pub envelope_recipients: Vec<String>,
    pub original_recipients: Vec<String>,
    pub client_addr: String,
    pub helo: String,
    pub tls: bool,
    pub size: u64,
    pub journal_format: String,
    pub content_digest: String,
    /// The original's sender where the journal report names it.
    pub original_sender: Option<String>,
    pub unwrap_problem: Option<String>,
    pub gmail_spam: Option<bool>,
    pub gmail_phishy: Option<bool>,
}

impl Copy {
    /// The original message's envelope sender, as well as the journal format tells it.
    pub fn sender(&self) -> &str {
        self.original_sender.as_deref().unwrap_or(&self.envelope_sender)
    }
}

/// One verdict on the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub event_id: [u8; 16],
    pub at: u64,
    pub position: Position,
    pub disposition: Disposition,
    pub attributes: Vec<String>,
    /// (name, score in thousandths, evidence)
    pub detections: Vec<(String, i32, String)>,
    pub rules_version: String,
    pub alert_id: String,
}

/// Where a submission stands: its latest decision, or pending when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionStatus {
    Pending,
    Accepted,
    Rejected,
    Withdrawn,
}

impl SubmissionStatus {
    pub const ALL: [SubmissionStatus; 4] = [
        SubmissionStatus::Pending,
        SubmissionStatus::Accepted,
        SubmissionStatus::Rejected,
        SubmissionStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Pending => "PENDING",
            SubmissionStatus::Accepted => "ACCEPTED",
            SubmissionStatus::Rejected => "REJECTED",
            SubmissionStatus::Withdrawn => "WITHDRAWN",
        }
    }

    pub fn parse(text: &str) -> Option<SubmissionStatus> {
        SubmissionStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The status a decision gives its submission.
    pub fn after(outcome: ReclassificationOutcome) -> SubmissionStatus {
        match outcome {
            ReclassificationOutcome::Accepted => SubmissionStatus::Accepted,
            ReclassificationOutcome::Rejected => SubmissionStatus::Rejected,
            ReclassificationOutcome::Withdrawn => SubmissionStatus::Withdrawn,
        }
    }
}

/// Where and when an event was folded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub event_id: [u8; 16],
    pub at: u64,
    pub position: Position,
}

/// A reclassification request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub stamp: Stamp,
    pub submission_id: String,
    pub submission_type: SubmissionType,
    pub requested_by: String,
    pub original: Disposition,
    pub requested: Disposition,
    pub comment: String,
}

/// A decision on a submission (several over time: accepted, then withdrawn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub stamp: Stamp,
    pub submission_id: String,
    pub outcome: ReclassificationOutcome,
    pub resolved_by: String,
    pub final_disposition: Disposition,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationRequest {
    pub stamp: Stamp,
    pub remediation_id: String,
    pub action: RemediationAction,
    pub mailboxes: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationResult {
    pub stamp: Stamp,
    pub remediation_id: String,
    pub mailbox: String,
    pub action: RemediationAction,
    pub outcome: RemediationOutcome,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub tenant: String,
    pub postern_id: String,
    pub message_id: Option<String>,
    pub copies: Vec<Copy>,
    pub verdicts: Vec<Verdict>,
    /// From the latest verdict (the scorer decodes headers; the projector never parses mail).
    pub headers: Option<HeaderSummary>,
    /// Reclassification requests and decisions, each list sorted by (time, event id); a
    /// decision may arrive before its request is folded, so they are matched when read.
    pub submissions: Vec<Submission>,
    pub resolutions: Vec<Resolution>,
    pub remediations: Vec<RemediationRequest>,
    pub remediation_results: Vec<RemediationResult>,
}

/// Inserts keeping the list sorted by (time, event id); false if the event is there.
fn insert_sorted<T>(list: &mut Vec<T>, item: T, stamp: impl Fn(&T) -> &Stamp) -> bool {
    let key = |t: &T| (stamp(t).at, stamp(t).event_id);
    if list.iter().any(|x| stamp(x).event_id == stamp(&item).event_id) {
        return false;
    }
    let at = list.partition_point(|x| key(x) < key(&item));
    list.insert(at, item);
    true
}

impl MessageRecord {
    pub fn new(tenant: &str, postern_id: &str) -> Self {
        MessageRecord {
            tenant: tenant.to_owned(),
            postern_id: postern_id.to_owned(),
            message_id: None,
            copies: Vec::new(),
            verdicts: Vec::new(),
            headers: None,
            submissions: Vec::new(),
            resolutions: Vec::new(),
            remediations: Vec::new(),
            remediation_results: Vec::new(),
        }
    }

    /// Folds one event. Returns false when the event was already folded (no change).
    pub fn apply(&mut self, envelope: &Envelope, event: &Event, position: Position) -> bool {
        match event {
            Event::RawMailReceived(raw) => self.apply_raw(envelope, raw, position),
            Event::DispositionAssigned(d) => self.apply_disposition(envelope, d, position),
            Event::ReclassificationSubmitted(r) => self.apply_submission(envelope, r, position),
            Event::ReclassificationResolved(r) => self.apply_resolution(envelope, r, position),
            Event::RemediationRequested(r) => self.apply_remediation(envelope, r, position),
            Event::RemediationCompleted(r) => self.apply_remediation_result(envelope, r, position),
            // Training examples live in MAIL_TRAINING, which the projector does not read,
            // and policy changes are no message's: neither changes a message record.
            Event::MessageLabelled(_)
            | Event::LabelWithdrawn(_)
            | Event::PolicyChanged(_)
            | Event::UserSubmissionReceived(_) => false,
        }
    }

    fn stamp(envelope: &Envelope, position: Position) -> Stamp {
        Stamp { event_id: envelope.event_id.to_bytes(), at: envelope.occurred_at.millis(), position }
    }

    fn apply_submission(&mut self, envelope: &Envelope, r: &ReclassificationSubmitted, position: Position) -> bool {
        let item = Submission {
            stamp: Self::stamp(envelope, position),
            submission_id: r.submission_id.clone(),
            submission_type: r.submission_type,
            requested_by: r.requested_by.clone(),
            original: r.original,
            requested: r.requested,
            comment: r.comment.clone(),
        };
        insert_sorted(&mut self.submissions, item, |x| &x.stamp)
    }

    fn apply_resolution(&mut self, envelope: &Envelope, r: &ReclassificationResolved, position: Position) -> bool {
        let item = Resolution {
            stamp: Self::stamp(envelope, position),
            submission_id: r.submission_id.clone(),
            outcome: r.outcome,
            resolved_by: r.resolved_by.clone(),
            final_disposition: r.final_disposition,
            comment: r.comment.clone(),
        };
        insert_sorted(&mut self.resolutions, item, |x| &x.stamp)
    }

    fn apply_remediation(&mut self, envelope: &Envelope, r: &RemediationRequested, position: Position) -> bool {
        let item = RemediationRequest {
            stamp: Self::stamp(envelope, position),
            remediation_id: r.remediation_id.clone(),
            action: r.action,
            mailboxes: r.mailboxes.clone(),
            reason: r.reason.clone(),
        };
        insert_sorted(&mut self.remediations, item, |x| &x.stamp)
    }

    fn apply_remediation_result(&mut self, envelope: &Envelope, r: &RemediationCompleted, position: Position) -> bool {
        let item = RemediationResult {
            stamp: Self::stamp(envelope, position),
            remediation_id: r.remediation_id.clone(),
            mailbox: r.mailbox.clone(),
            action: r.action,
            outcome: r.outcome,
            detail: r.detail.clone(),
        };
        insert_sorted(&mut self.remediation_results, item, |x| &x.stamp)
    }

    /// A submission's status: the latest decision on it (pending without one).
    pub fn status_of(&self, submission_id: &str) -> (SubmissionStatus, Option<&Resolution>) {
        match self.resolutions.iter().rev().find(|r| r.submission_id == submission_id) {
            Some(r) => (SubmissionStatus::after(r.outcome), Some(r)),
            None => (SubmissionStatus::Pending, None),
        }
    }

    /// The record as it stood at `at` (ms since the epoch): what folding only its events that
    /// occurred by then gives (the same cut as `projector rebuild --as-of`), or None when
    /// none of them had occurred.
    pub fn as_of(&self, at: u64) -> Option<MessageRecord> {
        let mut then = self.clone();
        then.copies.retain(|c| c.at <= at);
        then.verdicts.retain(|v| v.at <= at);
        then.submissions.retain(|s| s.stamp.at <= at);
        then.resolutions.retain(|r| r.stamp.at <= at);
        then.remediations.retain(|r| r.stamp.at <= at);
        then.remediation_results.retain(|r| r.stamp.at <= at);
        if then.verdicts.is_empty() {
            // The header summary comes with a verdict.
            then.headers = None;
        }
        let nothing = then.copies.is_empty()
            && then.verdicts.is_empty()
            && then.submissions.is_empty()
            && then.resolutions.is_empty()
            && then.remediations.is_empty()
            && then.remediation_results.is_empty();
        (!nothing).then_some(then)
    }

    /// The disposition in force: the latest accepted (and not withdrawn) reclassification's
    /// final disposition, else the latest verdict's.
    pub fn final_disposition(&self) -> Option<Disposition> {
        self.disposition_in_force(None)
    }

    /// [`MessageRecord::final_disposition`] leaving out what `ignoring`'s acceptance decided
    /// (the disposition once that submission is withdrawn).
    pub fn disposition_in_force(&self, ignoring: Option<&str>) -> Option<Disposition> {
        let accepted = self
            .resolutions
            .iter()
            .rev()
            .filter(|r| r.outcome == ReclassificationOutcome::Accepted && Some(r.submission_id.as_str()) != ignoring)
            .find(|r| self.status_of(&r.submission_id).0 == SubmissionStatus::Accepted);
        match accepted {
            Some(r) => Some(r.final_disposition),
            None => self.current_verdict().map(|v| v.disposition),
        }
    }

    /// The actions carried out in at least one mailbox.
    pub fn actions_taken(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .remediation_results
            .iter()
            .filter(|r| r.outcome == RemediationOutcome::Done)
            .map(|r| r.action.as_str().to_owned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// When the message arrived: its first copy (else its first event of any kind).
    pub fn received_at(&self) -> u64 {
        self.copies
            .first()
            .map(|c| c.at)
            .or_else(|| self.verdicts.first().map(|v| v.at))
            .or_else(|| self.submissions.first().map(|s| s.stamp.at))
            .unwrap_or(0)
    }

    fn apply_raw(&mut self, envelope: &Envelope, raw: &RawMailReceived, position: Position) -> bool {
        let event_id = envelope.event_id.to_bytes();
        // The same event again, or the same copy stored twice (a client retried after an
        // answer it never received, beyond JetStream's duplicate window).
        if self.copies.iter().any(|c| c.event_id == event_id || c.content_digest == raw.content_digest) {
            return false;
        }
        let copy = Copy {
            event_id,
            at: envelope.occurred_at.millis(),
            position,
            envelope_sender: raw.envelope_sender.clone(),
            envelope_recipients: raw.envelope_recipients.clone(),
            original_recipients: raw.original_recipients.clone(),
            client_addr: raw.client_addr.clone(),
            helo: raw.helo.clone(),
            tls: raw.tls,
            size: raw.size,
            journal_format: raw.journal_format.as_str().to_owned(),
            content_digest: raw.content_digest.clone(),
            original_sender: raw.original_sender.clone(),
            unwrap_problem: raw.unwrap_problem.clone(),
            gmail_spam: raw.gmail_spam,
            gmail_phishy: raw.gmail_phishy,
        };
        let at = self.copies.partition_point(|c| (c.at, c.event_id) < (copy.at, copy.event_id));
        self.copies.insert(at, copy);
        // Every copy carries the same Message-ID: the Postern id is derived from it.
        if self.message_id.is_none() {
            self.message_id = raw.message_id.clone();
        }
        true
    }

    fn apply_disposition(&mut self, envelope: &Envelope, d: &DispositionAssigned, position: Position) -> bool {
        let event_id = envelope.event_id.to_bytes();
        if self.verdicts.iter().any(|v| v.event_id == event_id) {
            return false;
        }
        let verdict = Verdict {
            event_id,
            at: envelope.occurred_at.millis(),
            position,
            disposition: d.disposition,
            attributes: d.attributes.iter().map(ToString::to_string).collect(),
            detections: d.detections.iter().map(|x| (x.name.clone(), x.score_milli, x.evidence.clone())).collect(),
            rules_version: d.rules_version.clone(),
            alert_id: d.alert_id.clone(),
        };
        let at = self.verdicts.partition_point(|v| (v.at, v.event_id) < (verdict.at, verdict.event_id));
        let is_latest = at == self.verdicts.len();
        self.verdicts.insert(at, verdict);
        if is_latest {
            self.headers = Some(d.headers.clone());
        }
        true
    }

    /// The verdict in force: the latest by (time, id).
    pub fn current_verdict(&self) -> Option<&Verdict> {
        self.verdicts.last()
    }

    /// Union of the real recipients of every copy, sorted.
    pub fn recipients(&self) -> Vec<String> {
        let mut all: Vec<String> = self.copies.iter().flat_map(|c| c.original_recipients.iter().cloned()).collect();
        all.sort();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::*;
    use ulid::Ulid;

    fn tenant() -> TenantId {
        TenantId::new("default").unwrap()
    }

    fn raw(id: u64, at: u64, rcpt: &str) -> (Envelope, Event) {
        let t = tenant();
        let envelope = Envelope {
            event_id: Ulid::from_parts(at, u128::from(id)),
            event_type: EventType::RawMailReceived,
            schema: 1,
            postern_id: PosternId::from_message_id(&t, "m@x"),
            tenant: t,
            causation_id: None,
            occurred_at: Timestamp(at),
            producer: "test".into(),
        };
        let event = Event::RawMailReceived(RawMailReceived {
            envelope_sender: "a@x".into(),
            envelope_recipients: vec!["journal@postern.localhost".into()],
            original_sender: None,
            original_recipients: vec![rcpt.into()],
            message_id: Some("m@x".into()),
            client_addr: "127.0.0.1:1".into(),
            helo: "h".into(),
            tls: false,
            size: 3,
            received_at: Timestamp(at),
            journal_format: JournalFormat::PlainBcc,
            unwrap_problem: None,
            gmail_spam: None,
            gmail_phishy: None,
            content_digest: format!("{id:032x}"),
            body: MailBody::Inline(b"x".to_vec()),
        });
        (envelope, event)
    }

    fn disposition(id: u64, at: u64, d: Disposition, subject: &str) -> (Envelope, Event) {
        let (mut envelope, _) = raw(id, at, "");
        envelope.event_type = EventType::DispositionAssigned;
        envelope.event_id = Ulid::from_parts(at, u128::from(id) + 1000);
        let event = Event::DispositionAssigned(DispositionAssigned {
            disposition: d,
            attributes: vec![],
            detections: vec![],
            rules_version: "r".into(),
            alert_id: "a".into(),
            postern_id: envelope.postern_id.clone(),
            headers: HeaderSummary { subject: Some(subject.into()), ..Default::default() },
        });
        (envelope, event)
    }

    fn pos(stream: &str, seq: u64) -> Position {
        Position { stream: stream.into(), seq }
    }

    #[test]
    fn copies_merge_and_repeats_change_nothing() {
        let mut r = MessageRecord::new("default", "x");
        let (e1, v1) = raw(1, 100, "bob@x");
        let (e2, v2) = raw(2, 200, "carol@x");
        assert!(r.apply(&e1, &v1, pos("MAIL_RAW", 1)));
        assert!(r.apply(&e2, &v2, pos("MAIL_RAW", 2)));
        assert!(!r.apply(&e1, &v1, pos("MAIL_RAW", 1)));
        // The same copy under another event id (stored twice) is not a new copy.
        let (mut e3, v3) = raw(1, 300, "bob@x");
        e3.event_id = Ulid::from_parts(300, 99);
        assert!(!r.apply(&e3, &v3, pos("MAIL_RAW", 3)));
        assert_eq!(r.copies.len(), 2);
        assert_eq!(r.recipients(), vec!["bob@x", "carol@x"]);
        assert_eq!(r.message_id.as_deref(), Some("m@x"));
    }

    #[test]
    fn any_order_of_the_two_streams_gives_the_same_record() {
        let events = [
            (raw(1, 100, "bob@x"), pos("MAIL_RAW", 1)),
            (disposition(1, 150, Disposition::Spam, "first"), pos("MAIL_EVENTS", 1)),
            (raw(2, 160, "carol@x"), pos("MAIL_RAW", 2)),
            (disposition(2, 170, Disposition::None, "second"), pos("MAIL_EVENTS", 2)),
        ];
        let fold = |order: &[usize]| {
            let mut r = MessageRecord::new("default", "x");
            for &i in order {
                let ((e, v), p) = &events[i];
                r.apply(e, v, p.clone());
            }
            r
        };
        let a = fold(&[0, 1, 2, 3]);
        for order in [[1, 3, 0, 2], [0, 2, 1, 3], [3, 1, 2, 0]] {
            assert_eq!(fold(&order), a, "order {order:?}");
        }
        assert_eq!(a.current_verdict().unwrap().disposition, proto::Disposition::None);
        assert_eq!(a.headers.as_ref().unwrap().subject.as_deref(), Some("second"));
    }
}
