//! Turns a received transaction into its event: a journal copy into `RawMailReceived`
//! (the journal format, the Message-ID and the original recipients), a mail to a
//! submission address into `UserSubmissionReceived` (what it reports). No I/O.

use crate::journal;
use crate::smtp::session::Envelope as SmtpEnvelope;
use proto::{Envelope, Event, EventType, MailBody, PosternId, RawMailReceived, TenantId, Timestamp, subject};
use ulid::Ulid;

/// What the connection knows about the client.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: String,
    pub helo: String,
    pub tls: bool,
}

/// An event ready to publish.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub envelope: Envelope,
    pub event: Event,
    /// The `Nats-Msg-Id`: from the content digest, so that JetStream drops a copy stored
    /// twice (a client retrying after a reply it never got) within its duplicate window.
    pub dedup_id: String,
    /// A body too large to travel inline: (object name, bytes), stored in the Object
    /// Store before the event is published.
    pub object: Option<(String, Vec<u8>)>,
}

pub const PRODUCER: &str = concat!("ingest/", env!("CARGO_PKG_VERSION"));

/// Builds the raw event for one message. `tenant` was validated when the config loaded.
pub fn accept(
    smtp: &SmtpEnvelope,
    tenant: &TenantId,
    peer: &Peer,
    message: Vec<u8>,
    now: Timestamp,
    event_id: Ulid,
    inline_limit: usize,
) -> Accepted {
    let content_digest = content_digest(tenant, smtp, &message);
    if let Some(submitted_as) = smtp.submission {
        return accept_submission(
            smtp,
            submitted_as,
            tenant,
            peer,
            message,
            now,
            event_id,
            inline_limit,
            content_digest,
        );
    }
    let dedup_id = format!("raw-{content_digest}");
    let unwrapped = journal::unwrap(&message);
    let message_id = unwrapped.message_id.clone();
    let postern_id = match &message_id {
        Some(id) if !id.trim().is_empty() => PosternId::from_message_id(tenant, id),
        _ => PosternId::from_event_id(tenant, event_id),
    };
    let envelope = Envelope {
        event_id,
        event_type: EventType::RawMailReceived,
        schema: EventType::RawMailReceived.current_schema(),
        tenant: tenant.clone(),
        postern_id,
        causation_id: None,
        occurred_at: now,
        producer: PRODUCER.to_owned(),
    };
    let original = unwrapped.original.into_owned();
    let size = original.len() as u64;
    let (body, object) = stored_body(tenant, &content_digest, original, inline_limit);
    let event = Event::RawMailReceived(RawMailReceived {
        envelope_sender: smtp.sender.clone(),
        envelope_recipients: smtp.recipients.clone(),
        original_recipients: unwrapped.recipients,
        original_sender: unwrapped.sender,
        message_id,
        client_addr: peer.addr.clone(),
        helo: peer.helo.clone(),
        tls: peer.tls,
        size,
        received_at: now,
        journal_format: unwrapped.format,
        unwrap_problem: unwrapped.problem,
        gmail_spam: unwrapped.gmail_spam,
        gmail_phishy: unwrapped.gmail_phishy,
        content_digest,
        body,
    });
    Accepted { envelope, event, dedup_id, object }
}

/// Where a body goes: inside the event up to `inline_limit`, else into the Object Store
/// (the object's name and bytes, stored before the event is published).
fn stored_body(
    tenant: &TenantId,
    content_digest: &str,
    bytes: Vec<u8>,
    inline_limit: usize,
) -> (MailBody, Option<(String, Vec<u8>)>) {
    if bytes.len() <= inline_limit {
        return (MailBody::Inline(bytes), None);
    }
    let key = format!("{tenant}/{content_digest}");
    let size = bytes.len() as u64;
    (
        MailBody::ObjectStore { bucket: subject::BUCKET_RAW_BODIES.to_owned(), key: key.clone(), size },
        Some((key, bytes)),
    )
}

/// A user's submission mail: what it reports, and the whole mail (inline or in the Object
/// Store, as a journal copy).
#[allow(clippy::too_many_arguments)]
fn accept_submission(
    smtp: &SmtpEnvelope,
    submitted_as: proto::SubmittedAs,
    tenant: &TenantId,
    peer: &Peer,
    message: Vec<u8>,
    now: Timestamp,
    event_id: Ulid,
    inline_limit: usize,
    content_digest: String,
) -> Accepted {
    let read = crate::submission::read(&message);
    let postern_id = match &read.message_id {
        Some(id) => PosternId::from_message_id(tenant, id),
        None => PosternId::from_event_id(tenant, event_id),
    };
    let envelope = Envelope {
        event_id,
        event_type: EventType::UserSubmissionReceived,
        schema: EventType::UserSubmissionReceived.current_schema(),
        tenant: tenant.clone(),
        postern_id,
        causation_id: None,
        occurred_at: now,
        producer: PRODUCER.to_owned(),
    };
    let size = message.len() as u64;
    let (body, object) = stored_body(tenant, &content_digest, message, inline_limit);
    let event = Event::UserSubmissionReceived(proto::UserSubmissionReceived {
        submission_id: event_id.to_string(),
        submitted_as,
        submitted_by: read.forwarded_by.unwrap_or_else(|| smtp.sender.trim().to_lowercase()),
        submission_address: smtp.recipients.first().cloned().unwrap_or_default(),
        reported: read.reported,
        attached: read.attached,
        client_addr: peer.addr.clone(),
        size,
        body,
    });
    Accepted { envelope, event, dedup_id: format!("submission-{content_digest}"), object }
}

/// XXH3-128 (a frozen, specified hash) of tenant, envelope and bytes, as 32 hex digits.
pub fn content_digest(tenant: &TenantId, smtp: &SmtpEnvelope, message: &[u8]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(b"postern-raw/v1\0");
    h.update(tenant.as_str().as_bytes());
    h.update(b"\0");
    h.update(smtp.sender.as_bytes());
    for rcpt in &smtp.recipients {
        h.update(b"\0");
        h.update(rcpt.as_bytes());
    }
    h.update(b"\0\0");
    h.update(message);
    format!("{:032x}", h.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::JournalFormat;

    fn smtp() -> SmtpEnvelope {
        SmtpEnvelope {
            sender: "alice@example.com".into(),
            recipients: vec!["journal@postern.localhost".into()],
            tenant: "default".into(),
            submission: None,
        }
    }

    fn peer() -> Peer {
        Peer { addr: "127.0.0.1:1".into(), helo: "mx".into(), tls: false }
    }

    #[test]
    fn plain_bcc_takes_recipients_from_headers() {
        let msg = b"From: a@example.com\r\nTo: Bob <Bob@Example.org>, c@example.org\r\nCc: d@example.org\r\nMessage-ID: <m1@example.com>\r\nSubject: x\r\n\r\nhi\r\n".to_vec();
        let tenant = TenantId::new("default").unwrap();
        let a = accept(&smtp(), &tenant, &peer(), msg.clone(), Timestamp(5), Ulid::from_parts(5, 1), 1 << 20);
        let Event::RawMailReceived(raw) = &a.event else { panic!() };
        assert_eq!(raw.journal_format, JournalFormat::PlainBcc);
        assert_eq!(raw.original_recipients, vec!["bob@example.org", "c@example.org", "d@example.org"]);
        assert_eq!(raw.message_id.as_deref(), Some("m1@example.com"));
        assert_eq!(raw.inline_body(), Some(msg.as_slice()));
        assert_eq!(a.envelope.postern_id, PosternId::from_message_id(&tenant, "<m1@example.com>"));
    }

    #[test]
    fn google_copy_uses_original_to() {
        let msg = b"X-Gm-Original-To: <Carol@Example.org>\r\nFrom: a@example.com\r\nTo: list@example.org\r\n\r\nhi\r\n"
            .to_vec();
        let tenant = TenantId::new("default").unwrap();
        let id = Ulid::from_parts(5, 1);
        let a = accept(&smtp(), &tenant, &peer(), msg, Timestamp(5), id, 1 << 20);
        let Event::RawMailReceived(raw) = &a.event else { panic!() };
        assert_eq!(raw.journal_format, JournalFormat::GoogleBcc);
        assert_eq!(raw.original_recipients, vec!["carol@example.org"]);
        // No Message-ID: the id comes from the event id.
        assert_eq!(a.envelope.postern_id, PosternId::from_event_id(&tenant, id));
    }

    #[test]
    fn identical_copies_share_a_digest_and_others_do_not() {
        let tenant = TenantId::new("default").unwrap();
        let d = content_digest(&tenant, &smtp(), b"x");
        assert_eq!(d.len(), 32);
        assert_eq!(d, content_digest(&tenant, &smtp(), b"x"));
        assert_ne!(d, content_digest(&tenant, &smtp(), b"y"));
        let mut other = smtp();
        other.recipients.push("j2@postern.localhost".into());
        assert_ne!(d, content_digest(&tenant, &other, b"x"));
        assert_ne!(d, content_digest(&TenantId::new("acme").unwrap(), &smtp(), b"x"));
    }

    #[test]
    fn large_bodies_go_to_the_object_store() {
        let tenant = TenantId::new("default").unwrap();
        let msg = b"Message-ID: <big@x>\r\n\r\n0123456789".to_vec();
        let a = accept(&smtp(), &tenant, &peer(), msg.clone(), Timestamp(5), Ulid::from_parts(5, 1), 10);
        let Event::RawMailReceived(raw) = &a.event else { panic!() };
        let (key, bytes) = a.object.expect("an object");
        assert_eq!(bytes, msg);
        assert_eq!(
            raw.body,
            MailBody::ObjectStore { bucket: "MAIL_RAW_BODIES".into(), key: key.clone(), size: msg.len() as u64 }
        );
        assert!(key.starts_with("default/"));
        assert_eq!(raw.inline_body(), None);
    }

    #[test]
    fn garbage_is_still_accepted_as_is() {
        let msg = vec![0u8, 159, 146, 150, b'\n'];
        let tenant = TenantId::new("default").unwrap();
        let a = accept(&smtp(), &tenant, &peer(), msg.clone(), Timestamp(5), Ulid::from_parts(5, 1), 1 << 20);
        let Event::RawMailReceived(raw) = &a.event else { panic!() };
        assert_eq!(raw.inline_body(), Some(msg.as_slice()));
    }
}
