//! The versioned binary encoding of events.
//!
//! ```text
//! "PSTN" | envelope version (u8, now 1) | postcard(header v1) | postcard(body at header.schema)
//! ```
//! postcard has a written, stable wire specification, which matters for an event log that
//! is replayed for audits years later. A reader accepts every (event type, schema) pair any
//! Postern has written and rejects unknown ones with [`DecodeError`], never a panic.
//! postcard is not self-describing, so *any* change to a body bumps its schema; an older
//! schema is decoded with its old struct and upcast here.

use crate::envelope::{Envelope, EventType};
use crate::error::DecodeError;
use crate::event::{
    DispositionAssigned, Event, LabelWithdrawn, MessageLabelled, PolicyChanged, RawMailReceived,
    ReclassificationResolved, ReclassificationSubmitted, RemediationCompleted, RemediationRequested,
};
use crate::ids::{PosternId, TenantId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use ulid::Ulid;

pub const MAGIC: &[u8; 4] = b"PSTN";
pub const ENVELOPE_VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct HeaderV1 {
    event_id: [u8; 16],
    event_type: u16,
    schema: u16,
    tenant: String,
    postern_id: String,
    causation_id: Option<[u8; 16]>,
    occurred_at: u64,
    producer: String,
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::RawMailReceived(_) => EventType::RawMailReceived,
            Event::DispositionAssigned(_) => EventType::DispositionAssigned,
            Event::MessageLabelled(_) => EventType::MessageLabelled,
            Event::LabelWithdrawn(_) => EventType::LabelWithdrawn,
            Event::ReclassificationSubmitted(_) => EventType::ReclassificationSubmitted,
            Event::ReclassificationResolved(_) => EventType::ReclassificationResolved,
            Event::RemediationRequested(_) => EventType::RemediationRequested,
            Event::RemediationCompleted(_) => EventType::RemediationCompleted,
            Event::PolicyChanged(_) => EventType::PolicyChanged,
            Event::UserSubmissionReceived(_) => EventType::UserSubmissionReceived,
        }
    }
}

/// Encodes an event with the current schema of its type. The envelope's `event_type` and
/// `schema` are taken from the body, so they cannot disagree.
pub fn encode(envelope: &Envelope, event: &Event) -> Vec<u8> {
    let event_type = event.event_type();
    let header = HeaderV1 {
        event_id: envelope.event_id.to_bytes(),
        event_type: event_type.code(),
        schema: event_type.current_schema(),
        tenant: envelope.tenant.as_str().to_owned(),
        postern_id: envelope.postern_id.as_str().to_owned(),
        causation_id: envelope.causation_id.map(|id| id.to_bytes()),
        occurred_at: envelope.occurred_at.millis(),
        producer: envelope.producer.clone(),
    };
    let mut out = Vec::with_capacity(64 + body_size_hint(event));
    out.extend_from_slice(MAGIC);
    out.push(ENVELOPE_VERSION);
    // Serializing into a Vec cannot fail for these types (no maps with non-string keys,
    // no custom Serialize that errors), so an error here is a bug worth a loud stop.
    out = postcard::to_extend(&header, out).expect("postcard header encoding");
    match event {
        Event::RawMailReceived(body) => postcard::to_extend(body, out),
        Event::DispositionAssigned(body) => postcard::to_extend(body, out),
        Event::MessageLabelled(body) => postcard::to_extend(body, out),
        Event::LabelWithdrawn(body) => postcard::to_extend(body, out),
        Event::ReclassificationSubmitted(body) => postcard::to_extend(body, out),
        Event::ReclassificationResolved(body) => postcard::to_extend(body, out),
        Event::RemediationRequested(body) => postcard::to_extend(body, out),
        Event::RemediationCompleted(body) => postcard::to_extend(body, out),
        Event::PolicyChanged(body) => postcard::to_extend(body, out),
        Event::UserSubmissionReceived(body) => postcard::to_extend(body, out),
    }
    .expect("postcard body encoding")
}

fn body_size_hint(event: &Event) -> usize {
    match event {
        Event::RawMailReceived(raw) => raw.inline_body().map_or(0, <[u8]>::len) + 256,
        Event::UserSubmissionReceived(s) => match &s.body {
            crate::event::MailBody::Inline(bytes) => bytes.len() + 256,
            crate::event::MailBody::ObjectStore { .. } => 256,
        },
        Event::DispositionAssigned(_) => 512,
        Event::MessageLabelled(labelled) => match &labelled.body {
            crate::event::MailBody::Inline(bytes) => bytes.len() + 128,
            crate::event::MailBody::ObjectStore { .. } => 256,
        },
        _ => 256,
    }
}

/// Decodes any event this build knows, upcasting old schemas to the current types.
pub fn decode(bytes: &[u8]) -> Result<(Envelope, Event), DecodeError> {
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(DecodeError::BadMagic)?;
    let (&version, rest) = rest
        .split_first()
        .ok_or(DecodeError::Malformed { part: "envelope", reason: "truncated before the version byte".into() })?;
    if version != ENVELOPE_VERSION {
        return Err(DecodeError::UnknownEnvelopeVersion(version));
    }
    let (header, body): (HeaderV1, &[u8]) =
        postcard::take_from_bytes(rest).map_err(|e| malformed("envelope header", e))?;
    let event_type = EventType::from_code(header.event_type).ok_or(DecodeError::UnknownEventType(header.event_type))?;
    let event = match (event_type, header.schema) {
        (EventType::RawMailReceived, 1) => Event::RawMailReceived(body_of::<RawMailReceived>(body)?),
        (EventType::DispositionAssigned, 1) => Event::DispositionAssigned(body_of::<DispositionAssigned>(body)?),
        (EventType::MessageLabelled, 1) => Event::MessageLabelled(body_of::<MessageLabelled>(body)?),
        (EventType::LabelWithdrawn, 1) => Event::LabelWithdrawn(body_of::<LabelWithdrawn>(body)?),
        (EventType::ReclassificationSubmitted, 1) => {
            Event::ReclassificationSubmitted(body_of::<crate::event::ReclassificationSubmittedV1>(body)?.into())
        }
        (EventType::ReclassificationSubmitted, 2) => {
            Event::ReclassificationSubmitted(body_of::<ReclassificationSubmitted>(body)?)
        }
        (EventType::ReclassificationResolved, 1) => {
            Event::ReclassificationResolved(body_of::<crate::event::ReclassificationResolvedV1>(body)?.into())
        }
        (EventType::ReclassificationResolved, 2) => {
            Event::ReclassificationResolved(body_of::<crate::event::ReclassificationResolvedV2>(body)?.into())
        }
        (EventType::ReclassificationResolved, 3) => {
            Event::ReclassificationResolved(body_of::<ReclassificationResolved>(body)?)
        }
        (EventType::RemediationRequested, 1) => {
            Event::RemediationRequested(body_of::<crate::event::RemediationRequestedV1>(body)?.into())
        }
        (EventType::RemediationRequested, 2) => {
            Event::RemediationRequested(body_of::<crate::event::RemediationRequestedV2>(body)?.into())
        }
        (EventType::RemediationRequested, 3) => Event::RemediationRequested(body_of::<RemediationRequested>(body)?),
        (EventType::RemediationCompleted, 1) => Event::RemediationCompleted(body_of::<RemediationCompleted>(body)?),
        (EventType::PolicyChanged, 1) => Event::PolicyChanged(body_of::<PolicyChanged>(body)?),
        (EventType::UserSubmissionReceived, 1) => {
            Event::UserSubmissionReceived(body_of::<crate::event::UserSubmissionReceived>(body)?)
        }
        (event_type, schema) => {
            return Err(DecodeError::UnknownSchema { event_type: event_type.name(), schema });
        }
    };
    let envelope = Envelope {
        event_id: Ulid::from_bytes(header.event_id),
        event_type,
        schema: header.schema,
        tenant: TenantId::new(&header.tenant).map_err(|e| malformed("envelope tenant", e))?,
        postern_id: PosternId::parse(&header.postern_id).map_err(|e| malformed("envelope postern_id", e))?,
        causation_id: header.causation_id.map(Ulid::from_bytes),
        occurred_at: Timestamp(header.occurred_at),
        producer: header.producer,
    };
    Ok((envelope, event))
}

fn body_of<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (body, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| malformed("body", e))?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed { part: "body", reason: format!("{} trailing bytes", rest.len()) });
    }
    Ok(body)
}

fn malformed(part: &'static str, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Malformed { part, reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;

    pub(crate) fn sample_raw() -> (Envelope, Event) {
        let tenant = TenantId::new("default").unwrap();
        let event_id = Ulid::from_parts(1_787_931_155_120, 7);
        let envelope = Envelope {
            event_id,
            event_type: EventType::RawMailReceived,
            schema: 1,
            postern_id: PosternId::from_message_id(&tenant, "<a@example.com>"),
            tenant,
            causation_id: None,
            occurred_at: Timestamp(1_787_931_155_120),
            producer: "ingest/test".into(),
        };
        let event = Event::RawMailReceived(RawMailReceived {
            envelope_sender: "alice@example.com".into(),
            envelope_recipients: vec!["journal@postern.localhost".into()],
            original_sender: None,
            original_recipients: vec!["bob@example.org".into()],
            message_id: Some("a@example.com".into()),
            client_addr: "127.0.0.1:40000".into(),
            helo: "mx.example.com".into(),
            tls: false,
            size: 5,
            received_at: Timestamp(1_787_931_155_120),
            journal_format: JournalFormat::PlainBcc,
            unwrap_problem: None,
            gmail_spam: None,
            gmail_phishy: None,
            content_digest: "0123456789abcdef0123456789abcdef".into(),
            body: MailBody::Inline(b"a\r\nb\x00\xff".to_vec()),
        });
        (envelope, event)
    }

    fn sample_labelled() -> (Envelope, Event) {
        let (raw_env, _) = sample_raw();
        let envelope =
            Envelope { event_type: EventType::MessageLabelled, producer: "scorer-train/test".into(), ..raw_env };
        let event = Event::MessageLabelled(MessageLabelled {
            label: TrainingLabel::Phish,
            source: "corpus:phish/a.eml".into(),
            content_digest: "0123456789abcdef0123456789abcdef".into(),
            body: MailBody::Inline(b"Subject: verify\r\n\r\nyour account\r\n".to_vec()),
        });
        (envelope, event)
    }

    fn sample_withdrawn() -> (Envelope, Event) {
        let (labelled_env, _) = sample_labelled();
        let envelope = Envelope {
            event_id: crate::ids::derive_event_id(labelled_env.event_id, "withdrawn"),
            event_type: EventType::LabelWithdrawn,
            causation_id: Some(labelled_env.event_id),
            ..labelled_env
        };
        let event = Event::LabelWithdrawn(LabelWithdrawn {
            label: TrainingLabel::Phish,
            content_digest: "0123456789abcdef0123456789abcdef".into(),
            reason: "corpus withdrawn".into(),
        });
        (envelope, event)
    }

    fn sample_user_submission() -> (Envelope, Event) {
        let (raw_env, _) = sample_raw();
        let envelope = Envelope {
            event_id: crate::ids::derive_event_id(raw_env.event_id, "submission"),
            event_type: EventType::UserSubmissionReceived,
            schema: 1,
            postern_id: PosternId::from_message_id(&raw_env.tenant, "<fwd@corp.example>"),
            producer: "ingest/test".into(),
            ..raw_env
        };
        let event = Event::UserSubmissionReceived(crate::event::UserSubmissionReceived {
            submission_id: "01KAR5QB1R8V2T9X4K6D3F7H5K".into(),
            submitted_as: crate::event::SubmittedAs::Phish,
            submitted_by: "bob@corp.example".into(),
            submission_address: "phish@corp.example".into(),
            reported: crate::event::ReportedMessage {
                message_id: Some("a@example.com".into()),
                from: Some("billing@vendor.example".into()),
                subject: Some("Invoice".into()),
                digest: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
            },
            attached: true,
            client_addr: "127.0.0.1:40000".into(),
            size: 2048,
            body: MailBody::Inline(b"From: bob@corp.example\r\n\r\nsee attached".to_vec()),
        });
        (envelope, event)
    }

    fn follow_up(event_type: EventType, salt: &str, event: Event) -> (Envelope, Event) {
        let (raw_env, _) = sample_raw();
        let envelope = Envelope {
            event_id: crate::ids::derive_event_id(raw_env.event_id, salt),
            event_type,
            schema: event_type.current_schema(),
            causation_id: Some(raw_env.event_id),
            producer: "projector/test".into(),
            ..raw_env
        };
        (envelope, event)
    }

    fn sample_submitted() -> (Envelope, Event) {
        follow_up(
            EventType::ReclassificationSubmitted,
            "submitted",
            Event::ReclassificationSubmitted(ReclassificationSubmitted {
                submission_id: "01KAR5Q7Z3ZJ0Y6W5P7M2N4B8C".into(),
                submission_type: SubmissionType::User,
                requested_by: "bob@corp.example".into(),
                original: Disposition::None,
                requested: Disposition::Spam,
                comment: "newsletter I never asked for".into(),
                client_addr: Some("192.0.2.10:51234".into()),
            }),
        )
    }

    fn sample_resolved() -> (Envelope, Event) {
        follow_up(
            EventType::ReclassificationResolved,
            "resolved",
            Event::ReclassificationResolved(ReclassificationResolved {
                submission_id: "01KAR5Q7Z3ZJ0Y6W5P7M2N4B8C".into(),
                outcome: ReclassificationOutcome::Accepted,
                resolved_by: "analyst@corp.example".into(),
                final_disposition: Disposition::Spam,
                comment: String::new(),
                remediation: DecidedRemediation::Act(RemediationAction::MoveToJunk),
                client_addr: Some("[2001:db8::7]:443".into()),
            }),
        )
    }

    fn sample_remediation_requested() -> (Envelope, Event) {
        follow_up(
            EventType::RemediationRequested,
            "remediation",
            Event::RemediationRequested(RemediationRequested {
                remediation_id: "01KAR5QB1R8V2T9X4K6D3F7H5J".into(),
                message_id: "<a@example.com>".into(),
                action: RemediationAction::Quarantine,
                mailboxes: vec!["bob@corp.example".into()],
                reason: "released by admin".into(),
                requested_by: Some("admin".into()),
                client_addr: Some("127.0.0.1:50123".into()),
            }),
        )
    }

    fn sample_remediation_completed() -> (Envelope, Event) {
        follow_up(
            EventType::RemediationCompleted,
            "remediated",
            Event::RemediationCompleted(RemediationCompleted {
                remediation_id: "01KAR5QB1R8V2T9X4K6D3F7H5J".into(),
                mailbox: "bob@corp.example".into(),
                action: RemediationAction::Quarantine,
                outcome: RemediationOutcome::Done,
                detail: "moved to Quarantine".into(),
            }),
        )
    }

    fn sample_policy_changed() -> (Envelope, Event) {
        follow_up(
            EventType::PolicyChanged,
            "policy",
            Event::PolicyChanged(PolicyChanged {
                changed_by: "admin".into(),
                revision: 3,
                policy_digest: "ab".repeat(32),
                summary: "2 blocked senders".into(),
            }),
        )
    }

    fn sample_disposition() -> (Envelope, Event) {
        let (raw_env, _) = sample_raw();
        let envelope = Envelope {
            event_id: crate::ids::derive_event_id(raw_env.event_id, "rules-1"),
            event_type: EventType::DispositionAssigned,
            schema: 1,
            causation_id: Some(raw_env.event_id),
            producer: "scorer/test".into(),
            ..raw_env.clone()
        };
        let event = Event::DispositionAssigned(DispositionAssigned {
            disposition: Disposition::Spoof,
            attributes: vec![Attribute::Bec, Attribute::NewDomainSender("2026-08-20".into())],
            detections: vec![Detection {
                name: "from_envelope_misaligned".into(),
                score_milli: 4000,
                evidence: "From example.com, envelope example.net".into(),
            }],
            rules_version: "rules-1".into(),
            alert_id: "x".into(),
            postern_id: raw_env.postern_id.clone(),
            headers: HeaderSummary {
                from: Some("Alice <alice@example.com>".into()),
                subject: Some("hi".into()),
                date: None,
                to: vec!["bob@example.org".into()],
            },
        });
        (envelope, event)
    }

    /// One sample of every event type, in its current schema (the round trip and the
    /// golden fixtures both cover this one list).
    fn every_sample() -> [(Envelope, Event); 10] {
        [
            sample_raw(),
            sample_disposition(),
            sample_labelled(),
            sample_withdrawn(),
            sample_submitted(),
            sample_resolved(),
            sample_remediation_requested(),
            sample_remediation_completed(),
            sample_policy_changed(),
            sample_user_submission(),
        ]
    }

    #[test]
    fn round_trips_every_event_type() {
        let types: Vec<EventType> = every_sample().iter().map(|(_, event)| event.event_type()).collect();
        assert_eq!(types, EventType::ALL, "one sample per event type");
        for (envelope, event) in every_sample() {
            let bytes = encode(&envelope, &event);
            let (env2, ev2) = decode(&bytes).unwrap();
            assert_eq!(env2, envelope);
            assert_eq!(ev2, event);
        }
    }

    #[test]
    fn refuses_bad_magic_version_type_and_schema() {
        let (envelope, event) = sample_raw();
        let good = encode(&envelope, &event);
        assert_eq!(decode(b"").unwrap_err(), DecodeError::BadMagic);
        assert_eq!(decode(b"hello world").unwrap_err(), DecodeError::BadMagic);

        let mut v = good.clone();
        v[4] = 9;
        assert_eq!(decode(&v).unwrap_err(), DecodeError::UnknownEnvelopeVersion(9));

        // Header: event_id is 16 raw bytes (postcard writes arrays without a length),
        // then the event type as a varint (1 byte for small codes), then the schema.
        let mut t = good.clone();
        t[5 + 16] = 99;
        assert_eq!(decode(&t).unwrap_err(), DecodeError::UnknownEventType(99));

        let mut s = good.clone();
        s[5 + 17] = 42;
        assert_eq!(decode(&s).unwrap_err(), DecodeError::UnknownSchema { event_type: "RawMailReceived", schema: 42 });
    }

    #[test]
    fn truncations_and_trailing_bytes_are_errors_not_panics() {
        let (envelope, event) = sample_raw();
        let good = encode(&envelope, &event);
        for len in 0..good.len() {
            assert!(decode(&good[..len]).is_err(), "truncated to {len} decoded");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(decode(&long), Err(DecodeError::Malformed { part: "body", .. })));
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small deterministic xorshift: no dependency, same bytes every run.
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (envelope, event) = sample_disposition();
        let good = encode(&envelope, &event);
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            let flips = 1 + next() % 4;
            for _ in 0..flips {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            let _ = decode(&bytes);
            let len = (next() as usize) % 64;
            let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut with_magic = MAGIC.to_vec();
            with_magic.push(1);
            with_magic.extend_from_slice(&garbage);
            let _ = decode(&with_magic);
        }
    }

    /// A schema-1 RemediationRequested (before `message_id`) still reads, with it empty.
    #[test]
    fn remediation_requested_v1_still_decodes() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events/remediation_requested/v1");
        let (envelope, event) = decode(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(envelope.schema, 1);
        let Event::RemediationRequested(r) = event else { panic!("{event:?}") };
        assert_eq!(r.message_id, "");
        assert_eq!(r.mailboxes, vec!["bob@corp.example".to_owned()]);
    }

    /// A schema-1 ReclassificationResolved (before `remediation`) still reads: the policy of
    /// its time was not recorded.
    #[test]
    fn reclassification_resolved_v1_still_decodes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/events/reclassification_resolved/v1");
        let (envelope, event) = decode(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(envelope.schema, 1);
        let Event::ReclassificationResolved(r) = event else { panic!("{event:?}") };
        assert_eq!(r.remediation, DecidedRemediation::NotRecorded);
        assert_eq!((r.outcome, r.final_disposition), (ReclassificationOutcome::Accepted, Disposition::Spam));
    }

    /// Golden fixtures prove that this build still reads what earlier builds wrote. They
    /// are added (POSTERN_WRITE_GOLDEN=1 writes a missing one), never edited. Every file
    /// of the folder (`<event type>/v<schema>`) is read, so that a fixture of an old schema
    /// is read back forever: it decodes as the type and schema it is filed under, into the
    /// current types, which encode again in the current schema. A fixture of the current
    /// schema decodes to exactly the sample.
    #[test]
    fn golden_fixtures_still_decode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/events");
        let samples = every_sample();
        for (envelope, event) in &samples {
            let path = dir.join(event.event_type().snake_name()).join(format!("v{}", envelope.schema));
            if !path.exists() && std::env::var_os("POSTERN_WRITE_GOLDEN").is_some() {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, encode(envelope, event)).unwrap();
            }
            assert!(path.exists(), "no golden fixture {} (POSTERN_WRITE_GOLDEN=1 writes it)", path.display());
        }
        let mut read = 0;
        for type_dir in std::fs::read_dir(&dir).unwrap() {
            let type_dir = type_dir.unwrap().path();
            let type_name = type_dir.file_name().unwrap().to_string_lossy().into_owned();
            for file in std::fs::read_dir(&type_dir).unwrap() {
                let path = file.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let schema: u16 = name
                    .strip_prefix('v')
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{}: not named v<schema>", path.display()));
                let (envelope, event) = decode(&std::fs::read(&path).unwrap())
                    .unwrap_or_else(|e| panic!("golden fixture {}: {e}", path.display()));
                assert_eq!(envelope.event_type.snake_name(), type_name, "{}", path.display());
                assert_eq!(envelope.schema, schema, "{}", path.display());
                let current = envelope.event_type.current_schema();
                assert!(schema <= current, "{}: a schema this build does not write", path.display());
                if schema == current {
                    let sample = samples.iter().find(|(e, _)| e.event_type == envelope.event_type).unwrap();
                    assert_eq!((&envelope, &event), (&sample.0, &sample.1), "{}", path.display());
                } else {
                    let upcast = Envelope { schema: current, ..envelope };
                    assert_eq!(decode(&encode(&upcast, &event)).unwrap(), (upcast, event), "{}", path.display());
                }
                read += 1;
            }
        }
        assert!(read > samples.len(), "the old schemas' fixtures are read too ({read} files)");
    }
}
