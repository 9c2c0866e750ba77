//! The fold alone, without NATS: N messages (a raw event and a disposition each) folded
//! into a fresh database in batches of 4,096, as a rebuild does.
//! `cargo run --release -p postern-projector --example fold_rate -- 100000`
use projector::projection::{StreamEvent, apply_batch};
use projector::store::Store;
use proto::*;

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_for_rebuild(dir.path()).unwrap();
    let tenant = TenantId::new("t1").unwrap();
    let mut events = Vec::new();
    for i in 0..n {
        let mid = format!("m{i}@d{}.example", i % 5000);
        let pid = PosternId::from_message_id(&tenant, &mid);
        let at = 1_800_000_000_000 + i * 1000;
        let env = |t: EventType, id: u128, at: u64| Envelope {
            event_id: ulid::Ulid::from_parts(at, id),
            event_type: t,
            schema: t.current_schema(),
            postern_id: pid.clone(),
            tenant: tenant.clone(),
            causation_id: None,
            occurred_at: Timestamp(at),
            producer: "x".into(),
        };
        let raw = Event::RawMailReceived(RawMailReceived {
            envelope_sender: format!("u@d{}.example", i % 5000),
            envelope_recipients: vec!["j@x".into()],
            original_sender: None,
            original_recipients: vec![format!("e{}@corp.example", i % 2000)],
            message_id: Some(mid.clone()),
            client_addr: "127.0.0.1:1".into(),
            helo: "h".into(),
            tls: false,
            size: 100,
            received_at: Timestamp(at),
            journal_format: JournalFormat::PlainBcc,
            unwrap_problem: None,
            gmail_spam: None,
            gmail_phishy: None,
            content_digest: format!("{i:032x}"),
            body: MailBody::Inline(vec![b'x'; 300]),
        });
        let d = Event::DispositionAssigned(DispositionAssigned {
            disposition: Disposition::None,
            attributes: vec![],
            detections: vec![],
            rules_version: "r".into(),
            alert_id: format!("a{i}"),
            postern_id: pid.clone(),
            headers: HeaderSummary {
                subject: Some(format!("invoice payment {i}")),
                from: Some(format!("u@d{}.example", i % 5000)),
                ..Default::default()
            },
        });
        events.push(StreamEvent {
            stream: "MAIL_RAW",
            seq: i + 1,
            subject: "mail.raw.t1".into(),
            payload: encode(&env(EventType::RawMailReceived, 1, at), &raw).into(),
        });
        events.push(StreamEvent {
            stream: "MAIL_EVENTS",
            seq: i + 1,
            subject: "mail.disposition.t1".into(),
            payload: encode(&env(EventType::DispositionAssigned, 2, at + 1), &d).into(),
        });
    }
    let started = std::time::Instant::now();
    for chunk in events.chunks(4096) {
        apply_batch(&store, chunk).unwrap();
    }
    let s = started.elapsed().as_secs_f64();
    println!("{} events in {s:.2} s: {:.0} events/s", events.len(), events.len() as f64 / s);
}
