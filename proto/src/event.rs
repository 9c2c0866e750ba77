//! Event bodies: past-tense facts. Each is encoded behind an [`crate::Envelope`].

use crate::ids::PosternId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Every event kind Postern writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    RawMailReceived(RawMailReceived),
    DispositionAssigned(DispositionAssigned),
    MessageLabelled(MessageLabelled),
    LabelWithdrawn(LabelWithdrawn),
    ReclassificationSubmitted(ReclassificationSubmitted),
    ReclassificationResolved(ReclassificationResolved),
    RemediationRequested(RemediationRequested),
    RemediationCompleted(RemediationCompleted),
    PolicyChanged(PolicyChanged),
    UserSubmissionReceived(UserSubmissionReceived),
}

/// What a user reports a message as, by the submission address they forward it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SubmittedAs {
    Phish,
    Spam,
}

impl SubmittedAs {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmittedAs::Phish => "phish",
            SubmittedAs::Spam => "spam",
        }
    }

    /// The disposition the user's reclassification requests.
    pub fn requested(self) -> Disposition {
        match self {
            SubmittedAs::Phish => Disposition::Malicious,
            SubmittedAs::Spam => Disposition::Spam,
        }
    }
}

/// What a submission says of the message it reports: from the attached copy (a forward
/// as attachment) or from the forwarded header block of an inline forward.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedMessage {
    /// Its Message-ID, brackets removed (attached copies; inline forwards rarely show it).
    pub message_id: Option<String>,
    /// Its From address, lower-case.
    pub from: Option<String>,
    pub subject: Option<String>,
    /// XXH3-128 (32 hex digits) of the attached copy's bytes.
    pub digest: Option<String>,
}

/// A user forwarded a message to one of the tenant's submission addresses (`phish@…`,
/// `spam@…`). Subject `mail.raw.<tenant>`, beside the journal copies; the envelope's
/// Postern id is the submission mail's own. The projector finds the reported message and
/// records a USER reclassification for it; one it cannot find is listed as unmatched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSubmissionReceived {
    /// The id of the USER reclassification this submission becomes.
    pub submission_id: String,
    pub submitted_as: SubmittedAs,
    /// Who forwarded it: the forward's From address (else its SMTP MAIL FROM), lower-case.
    pub submitted_by: String,
    /// The submission address it was sent to.
    pub submission_address: String,
    pub reported: ReportedMessage,
    /// Whether the message came as an attachment (message/rfc822), not inline.
    pub attached: bool,
    /// Address and port of the client that delivered it.
    pub client_addr: String,
    /// Size of the submission mail in bytes.
    pub size: u64,
    /// The whole submission mail (the attached copy included).
    pub body: MailBody,
}

/// Who asks for a reclassification: the security team (accepted at once unless the
/// tenant's policy asks for review) or a mailbox user (waits for an analyst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SubmissionType {
    Team,
    User,
}

impl SubmissionType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionType::Team => "TEAM",
            SubmissionType::User => "USER",
        }
    }
}

/// An analyst or a user asks for another disposition. Published on
/// `mail.reclassification.<tenant>` with the message's Postern id in the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclassificationSubmitted {
    /// ULID text, unique per submission.
    pub submission_id: String,
    pub submission_type: SubmissionType,
    pub requested_by: String,
    /// The disposition in force when it was asked.
    pub original: Disposition,
    pub requested: Disposition,
    pub comment: String,
    /// The address the request came from (schema 2: the API's peer; None for one made
    /// without a network request, and for schema 1).
    pub client_addr: Option<String>,
}

/// Schema 1 of [`ReclassificationSubmitted`]: before `client_addr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReclassificationSubmittedV1 {
    pub submission_id: String,
    pub submission_type: SubmissionType,
    pub requested_by: String,
    pub original: Disposition,
    pub requested: Disposition,
    pub comment: String,
}

impl From<ReclassificationSubmittedV1> for ReclassificationSubmitted {
    fn from(v1: ReclassificationSubmittedV1) -> Self {
        ReclassificationSubmitted {
            submission_id: v1.submission_id,
            submission_type: v1.submission_type,
            requested_by: v1.requested_by,
            original: v1.original,
            requested: v1.requested,
            comment: v1.comment,
            client_addr: None,
        }
    }
}

/// How a submission ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReclassificationOutcome {
    Accepted,
    Rejected,
    /// Taken back by whoever submitted it (or an analyst): as if it never was.
    Withdrawn,
}

impl ReclassificationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReclassificationOutcome::Accepted => "ACCEPTED",
            ReclassificationOutcome::Rejected => "REJECTED",
            ReclassificationOutcome::Withdrawn => "WITHDRAWN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReclassificationResolved {
    pub submission_id: String,
    pub outcome: ReclassificationOutcome,
    pub resolved_by: String,
    /// The disposition in force after the resolution (the requested one when accepted).
    pub final_disposition: Disposition,
    pub comment: String,
    /// What the tenant's policy said to do in the mailboxes when this was decided (schema
    /// 2), so that a replay reacts as the decision did, whatever the policy says today.
    pub remediation: DecidedRemediation,
    /// The address the decision came from (schema 3: the API's peer; None for one made
    /// without a network request, and before schema 3).
    pub client_addr: Option<String>,
}

/// The post-delivery action a decision carries, fixed when it was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecidedRemediation {
    /// Decided by a build before schema 2: the policy of the time was not recorded (the
    /// reactor asks the tenant's current policy).
    NotRecorded,
    /// Nothing to move: not an acceptance, or the policy names no action for the
    /// disposition.
    Nothing,
    /// Move the message out of every recipient's mailbox so.
    Act(RemediationAction),
}

/// Schema 1 of [`ReclassificationResolved`]: before `remediation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReclassificationResolvedV1 {
    pub submission_id: String,
    pub outcome: ReclassificationOutcome,
    pub resolved_by: String,
    pub final_disposition: Disposition,
    pub comment: String,
}

impl From<ReclassificationResolvedV1> for ReclassificationResolved {
    fn from(v1: ReclassificationResolvedV1) -> Self {
        ReclassificationResolved {
            submission_id: v1.submission_id,
            outcome: v1.outcome,
            resolved_by: v1.resolved_by,
            final_disposition: v1.final_disposition,
            comment: v1.comment,
            remediation: DecidedRemediation::NotRecorded,
            client_addr: None,
        }
    }
}

/// Schema 2 of [`ReclassificationResolved`]: before `client_addr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReclassificationResolvedV2 {
    pub submission_id: String,
    pub outcome: ReclassificationOutcome,
    pub resolved_by: String,
    pub final_disposition: Disposition,
    pub comment: String,
    pub remediation: DecidedRemediation,
}

impl From<ReclassificationResolvedV2> for ReclassificationResolved {
    fn from(v2: ReclassificationResolvedV2) -> Self {
        ReclassificationResolved {
            submission_id: v2.submission_id,
            outcome: v2.outcome,
            resolved_by: v2.resolved_by,
            final_disposition: v2.final_disposition,
            comment: v2.comment,
            remediation: v2.remediation,
            client_addr: None,
        }
    }
}

/// The post-delivery actions a policy can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RemediationAction {
    MoveToJunk,
    MoveToTrash,
    Quarantine,
    SoftDelete,
    HardDelete,
    /// Puts a copy that Postern moved back in the inbox (a release). Added last, so
    /// events written before it decode unchanged.
    Restore,
}

impl RemediationAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationAction::MoveToJunk => "move_to_junk",
            RemediationAction::MoveToTrash => "move_to_trash",
            RemediationAction::Quarantine => "quarantine",
            RemediationAction::SoftDelete => "soft_delete",
            RemediationAction::HardDelete => "hard_delete",
            RemediationAction::Restore => "restore",
        }
    }
}

/// Every mailbox holding a copy is asked to move it out (or, `Restore`, back in). Schema 2
/// added `message_id` (what a mailbox finds the message by); schema 1 events read with it
/// empty. Schema 3 added who asked through the API and from where (a release); the
/// requests the scorer and the reactor derive, and older events, have neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationRequested {
    pub remediation_id: String,
    /// The RFC 5322 Message-ID, with angle brackets.
    pub message_id: String,
    pub action: RemediationAction,
    pub mailboxes: Vec<String>,
    /// Why (`final disposition MALICIOUS`, `reclassification <id> accepted`).
    pub reason: String,
    /// The API token's name of who asked (a release), for the audit trail.
    pub requested_by: Option<String>,
    /// The address the API request came from (`ip:port`).
    pub client_addr: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RemediationOutcome {
    Done,
    NotFound,
    Failed,
}

impl RemediationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationOutcome::Done => "DONE",
            RemediationOutcome::NotFound => "NOT_FOUND",
            RemediationOutcome::Failed => "FAILED",
        }
    }
}

/// Schema 1 of [`RemediationRequested`], as written before `message_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RemediationRequestedV1 {
    pub remediation_id: String,
    pub action: RemediationAction,
    pub mailboxes: Vec<String>,
    pub reason: String,
}

impl From<RemediationRequestedV1> for RemediationRequested {
    fn from(v1: RemediationRequestedV1) -> Self {
        RemediationRequested {
            remediation_id: v1.remediation_id,
            message_id: String::new(),
            action: v1.action,
            mailboxes: v1.mailboxes,
            reason: v1.reason,
            requested_by: None,
            client_addr: None,
        }
    }
}

/// Schema 2 of [`RemediationRequested`], as written before who asked and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RemediationRequestedV2 {
    pub remediation_id: String,
    pub message_id: String,
    pub action: RemediationAction,
    pub mailboxes: Vec<String>,
    pub reason: String,
}

impl From<RemediationRequestedV2> for RemediationRequested {
    fn from(v2: RemediationRequestedV2) -> Self {
        RemediationRequested {
            remediation_id: v2.remediation_id,
            message_id: v2.message_id,
            action: v2.action,
            mailboxes: v2.mailboxes,
            reason: v2.reason,
            requested_by: None,
            client_addr: None,
        }
    }
}

/// What happened in one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationCompleted {
    pub remediation_id: String,
    pub mailbox: String,
    pub action: RemediationAction,
    pub outcome: RemediationOutcome,
    pub detail: String,
}

/// A tenant's scoring policy was stored or removed (the policy itself lives in the KV
/// bucket; this is the audit record). The envelope's Postern id is derived from the KV
/// revision, so each change is its own record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChanged {
    pub changed_by: String,
    /// KV revision of the change (0 when deleted).
    pub revision: u64,
    /// SHA-256 (hex) of the stored JSON, empty when deleted.
    pub policy_digest: String,
    pub summary: String,
}

/// What a labelled message teaches the token classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TrainingLabel {
    /// Wanted personal and business mail.
    Ham,
    Spam,
    /// Phishing, fraud, malware.
    Phish,
    /// Wanted bulk mail: newsletters the recipient asked for. (Added after the first three:
    /// variants are encoded by position, so new ones go last.)
    Bulk,
}

impl TrainingLabel {
    pub const ALL: [TrainingLabel; 4] =
        [TrainingLabel::Ham, TrainingLabel::Spam, TrainingLabel::Phish, TrainingLabel::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            TrainingLabel::Ham => "ham",
            TrainingLabel::Spam => "spam",
            TrainingLabel::Phish => "phish",
            TrainingLabel::Bulk => "bulk",
        }
    }
}

impl fmt::Display for TrainingLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message given a label to learn from: a labelled corpus imported with `scorer train`,
/// or (later) an accepted reclassification. Published on `mail.training.<scope>`, where the
/// scope is a tenant or [`crate::subject::TRAINING_SHARED_SCOPE`]. Learners fold these
/// into their models; an example is identified by (scope, content digest, label), so the
/// same message imported twice teaches once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageLabelled {
    pub label: TrainingLabel,
    /// Where the label comes from (`corpus:<file>`, `reclassification:<submission id>`).
    pub source: String,
    /// XXH3-128 (hex) of the message bytes.
    pub content_digest: String,
    /// The message, byte for byte.
    pub body: MailBody,
}

/// Takes back what a [`MessageLabelled`] with this digest and label taught.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelWithdrawn {
    pub label: TrainingLabel,
    pub content_digest: String,
    /// Why (`corpus withdrawn`, `reclassification <id> withdrawn`).
    pub reason: String,
}

/// How the copy reached Postern, and so how its recipients were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalFormat {
    /// The message as is (Exchange transport rule BCC, plain forwarding).
    PlainBcc,
    /// Google Workspace BCC / routing copy (`X-Gm-Original-To`).
    GoogleBcc,
    /// Microsoft Exchange / 365 envelope journal report, unwrapped.
    ExchangeEnvelope,
    /// Looked like a journal report but could not be unwrapped: stored as it came.
    UnwrapFailed,
}

impl JournalFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalFormat::PlainBcc => "plain_bcc",
            JournalFormat::GoogleBcc => "google_bcc",
            JournalFormat::ExchangeEnvelope => "exchange_envelope",
            JournalFormat::UnwrapFailed => "unwrap_failed",
        }
    }
}

/// Where the message's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailBody {
    /// The original message, byte for byte, inside the event.
    Inline(#[serde(with = "serde_bytes_compat")] Vec<u8>),
    /// The original message is an object in a JetStream Object Store bucket (large
    /// messages, which do not fit NATS's payload limit).
    ObjectStore { bucket: String, key: String, size: u64 },
}

/// A copy of a message was accepted over SMTP and stored. Subject `mail.raw.<tenant>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawMailReceived {
    /// SMTP MAIL FROM of the journal transaction (empty for the null sender).
    pub envelope_sender: String,
    /// SMTP RCPT TO of the journal transaction (the journal addresses).
    pub envelope_recipients: Vec<String>,
    /// The real recipients of the original message, as the journal format tells them.
    pub original_recipients: Vec<String>,
    /// The original's envelope sender where the journal format names it (an Exchange
    /// report's `Sender:`); for plain and Google copies the SMTP MAIL FROM is the original's.
    pub original_sender: Option<String>,
    /// The RFC 5322 Message-ID of the original, if it had one (as written, brackets removed).
    pub message_id: Option<String>,
    /// Address and port of the client that delivered the copy.
    pub client_addr: String,
    /// What the client said in HELO / EHLO.
    pub helo: String,
    /// Whether the SMTP session was protected by TLS.
    pub tls: bool,
    /// Size of the original message in bytes.
    pub size: u64,
    /// When ingest accepted it (same as the envelope's occurred_at).
    pub received_at: Timestamp,
    pub journal_format: JournalFormat,
    /// Why a journal report could not be unwrapped (format `UnwrapFailed`): the body is
    /// then the whole report as it came.
    pub unwrap_problem: Option<String>,
    /// Google's own verdicts on a Workspace copy (`X-Gm-Spam`, `X-Gm-Phishy`).
    pub gmail_spam: Option<bool>,
    pub gmail_phishy: Option<bool>,
    /// Digest (hex, 32 digits) of tenant, envelope and message bytes: identical copies
    /// (a client retrying after an answer it never got) have the same digest. It is the
    /// `Nats-Msg-Id` of the raw event, and the projector merges copies by it.
    pub content_digest: String,
    pub body: MailBody,
}

impl RawMailReceived {
    /// The original message's envelope sender, as well as the journal format tells it.
    pub fn sender(&self) -> &str {
        self.original_sender.as_deref().unwrap_or(&self.envelope_sender)
    }

    /// The message bytes when they travel in the event (None: in the Object Store).
    pub fn inline_body(&self) -> Option<&[u8]> {
        match &self.body {
            MailBody::Inline(bytes) => Some(bytes),
            MailBody::ObjectStore { .. } => None,
        }
    }
}

/// The product's dispositions, one per message, in precedence order (first wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Disposition {
    Malicious,
    Suspicious,
    Spoof,
    Spam,
    Bulk,
    None,
}

impl Disposition {
    pub const ALL: [Disposition; 6] = [
        Disposition::Malicious,
        Disposition::Suspicious,
        Disposition::Spoof,
        Disposition::Spam,
        Disposition::Bulk,
        Disposition::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Malicious => "MALICIOUS",
            Disposition::Suspicious => "SUSPICIOUS",
            Disposition::Spoof => "SPOOF",
            Disposition::Spam => "SPAM",
            Disposition::Bulk => "BULK",
            Disposition::None => "NONE",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Disposition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Disposition::ALL.into_iter().find(|d| d.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            format!("unknown disposition {s:?}; expected one of MALICIOUS, SUSPICIOUS, SPOOF, SPAM, BULK, NONE")
        })
    }
}

/// Attributes attached to a disposition, any number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Attribute {
    CustomBlockList,
    /// The sender's domain was registered on this date (`YYYY-MM-DD`).
    NewDomainSender(String),
    /// A linked domain was registered on this date (`YYYY-MM-DD`).
    NewDomainLink(String),
    Encrypted,
    Executable,
    Bec,
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::CustomBlockList => f.write_str("CUSTOM_BLOCK_LIST"),
            Attribute::NewDomainSender(d) => write!(f, "NEW_DOMAIN_SENDER={d}"),
            Attribute::NewDomainLink(d) => write!(f, "NEW_DOMAIN_LINK={d}"),
            Attribute::Encrypted => f.write_str("ENCRYPTED"),
            Attribute::Executable => f.write_str("EXECUTABLE"),
            Attribute::Bec => f.write_str("BEC"),
        }
    }
}

/// One detection that fired: which, how strongly, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// Stable snake_case name, e.g. `from_envelope_misaligned`.
    pub name: String,
    /// Score in thousandths (integers keep folds and comparisons exact).
    pub score_milli: i32,
    /// Human-readable evidence.
    pub evidence: String,
}

/// The headers an analyst looks a message up by, decoded by the scorer (the projector
/// never parses mail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderSummary {
    pub from: Option<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub to: Vec<String>,
}

/// The scorer's verdict on a message. Subject `mail.disposition.<tenant>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispositionAssigned {
    pub disposition: Disposition,
    pub attributes: Vec<Attribute>,
    pub detections: Vec<Detection>,
    /// Version of the rules that decided, part of the derived event id.
    pub rules_version: String,
    /// `<postern id>-<scoring time>`.
    pub alert_id: String,
    /// The message this is about (also the envelope's correlation id).
    pub postern_id: PosternId,
    pub headers: HeaderSummary,
}

/// Lets `Vec<u8>` go through serde as one byte string instead of a sequence of integers
/// (postcard writes both the same way; self-describing formats differ).
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(V)
    }
}
