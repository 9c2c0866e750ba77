//! Folding stream messages into the store: a batch of events becomes one WriteBatch with
//! the view rows and the new checkpoints, written durably before anything is acked.

use crate::error::StoreError;
use crate::store::Store;
use crate::store::schema::{client_addrs, daily, mail_submissions, messages, meta, policy_changes, releases, search};
use crate::view::message::{MessageRecord, Position};
use rocksdb::WriteBatch;
use std::collections::BTreeMap;
use tracing::{error, warn};

/// One message read from a stream.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub stream: &'static str,
    pub seq: u64,
    pub subject: String,
    pub payload: bytes::Bytes,
}

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchStats {
    pub folded: usize,
    /// At or below the checkpoint, or an event id already folded.
    pub skipped: usize,
    /// Could not be decoded, or on a subject other than its type's and tenant's: logged and
    /// passed over (the checkpoint moves on), never folded.
    pub rejected: usize,
    /// The rejected events, each as a dead letter with a copy of its payload, for the live
    /// fold to file.
    pub dead_letters: Vec<(proto::publish::DeadLetter, Vec<u8>)>,
}

/// Folds `events` (in stream order per stream) and commits them with the checkpoints.
pub fn apply_batch(store: &Store, events: &[StreamEvent]) -> Result<BatchStats, StoreError> {
    apply_batch_as_of(store, events, None)
}

/// The same, leaving out events that occurred after `as_of` (ms): the views as they
/// stood then.
pub fn apply_batch_as_of(store: &Store, events: &[StreamEvent], as_of: Option<u64>) -> Result<BatchStats, StoreError> {
    apply_batch_scoped(store, events, as_of, None)
}

/// The same, folding only the tenants `shard` holds (all when None); the others' events
/// are passed over (the checkpoints still advance past them).
pub fn apply_batch_scoped(
    store: &Store,
    events: &[StreamEvent],
    as_of: Option<u64>,
    shard: Option<&crate::shard::Shard>,
) -> Result<BatchStats, StoreError> {
    let mut stats = BatchStats::default();
    let mut checkpoints: BTreeMap<&'static str, u64> = BTreeMap::new();
    // Records touched in this batch, by key, with what they were before the batch: later
    // events in the batch see earlier ones; indexes and counters change by the difference.
    let mut touched: BTreeMap<Vec<u8>, (Option<MessageRecord>, MessageRecord)> = BTreeMap::new();
    let mut policy_rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut addr_rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut release_rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut submission_rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();

    for event in events {
        let checkpoint = match checkpoints.get(event.stream) {
            Some(&c) => c,
            None => store.checkpoint(event.stream)?,
        };
        if event.seq <= checkpoint {
            stats.skipped += 1;
            continue;
        }
        checkpoints.insert(event.stream, event.seq);
        if proto::subject::is_dead_letter(&event.subject) {
            stats.skipped += 1;
            continue;
        }
        let reject = |stats: &mut BatchStats, reason: String| {
            error!(stream = event.stream, seq = event.seq, subject = %event.subject, %reason, "event not folded");
            stats.rejected += 1;
            let letter = proto::publish::DeadLetter {
                stream: event.stream.to_owned(),
                seq: event.seq,
                subject: event.subject.clone(),
                reason,
            };
            stats.dead_letters.push((letter, event.payload.to_vec()));
        };
        let (envelope, decoded) = match proto::decode(&event.payload) {
            Ok(pair) => pair,
            Err(e) => {
                reject(&mut stats, format!("undecodable event: {e}"));
                continue;
            }
        };
        if as_of.is_some_and(|t| envelope.occurred_at.millis() > t) {
            stats.skipped += 1;
            continue;
        }
        let tenant = envelope.tenant.as_str();
        if shard.is_some_and(|s| !s.holds(tenant)) {
            stats.skipped += 1;
            continue;
        }
        // A tenant's views hold only what was published on that tenant's subjects.
        if let Err(crossed) = proto::subject::check_subject(&event.subject, &envelope) {
            reject(&mut stats, crossed.to_string());
            continue;
        }
        if let proto::Event::PolicyChanged(change) = &decoded {
            let row = policy_changes::PolicyChangeRow {
                at: envelope.occurred_at.millis(),
                event_id: envelope.event_id.to_bytes(),
                changed_by: change.changed_by.clone(),
                revision: change.revision,
                policy_digest: change.policy_digest.clone(),
                summary: change.summary.clone(),
            };
            policy_rows.push((policy_changes::key(tenant, row.at, row.event_id), policy_changes::encode(&row)));
            stats.folded += 1;
            continue;
        }
        // A user's submission by mail: a row of its own (the matcher records it on the
        // message it reports), not a message.
        if let proto::Event::UserSubmissionReceived(s) = &decoded {
            let row = mail_submissions::MailSubmissionRow {
                tenant: tenant.to_owned(),
                at: envelope.occurred_at.millis(),
                event_id: envelope.event_id.to_bytes(),
                submission_id: s.submission_id.clone(),
                submitted_as: s.submitted_as,
                submitted_by: s.submitted_by.clone(),
                submission_address: s.submission_address.clone(),
                reported: s.reported.clone(),
                attached: s.attached,
                raw_seq: event.seq,
            };
            submission_rows.push((mail_submissions::key(tenant, row.at, row.event_id), mail_submissions::encode(&row)));
            stats.folded += 1;
            continue;
        }
        let postern_id = envelope.postern_id.as_str();
        let key = messages::key(tenant, postern_id);
        let (_, record) = match touched.get_mut(&key) {
            Some(r) => r,
            None => {
                let loaded = store.get(messages::CF, &key)?.map(|bytes| messages::decode(&bytes)).transpose()?;
                let current = loaded.clone().unwrap_or_else(|| MessageRecord::new(tenant, postern_id));
                touched.entry(key.clone()).or_insert((loaded, current))
            }
        };
        let position = Position { stream: event.stream.to_owned(), seq: event.seq };
        if record.apply(&envelope, &decoded, position) {
            stats.folded += 1;
            let addr = match &decoded {
                proto::Event::ReclassificationSubmitted(s) => s.client_addr.as_deref(),
                proto::Event::ReclassificationResolved(r) => r.client_addr.as_deref(),
                proto::Event::RemediationRequested(r) => r.client_addr.as_deref(),
                _ => None,
            };
            // A release asked through the API: a row of the audit trail.
            if let proto::Event::RemediationRequested(r) = &decoded
                && let Some(by) = &r.requested_by
            {
                let row = releases::ReleaseRow {
                    at: envelope.occurred_at.millis(),
                    event_id: envelope.event_id.to_bytes(),
                    postern_id: postern_id.to_owned(),
                    remediation_id: r.remediation_id.clone(),
                    released_by: by.clone(),
                    mailboxes: r.mailboxes.clone(),
                    reason: r.reason.clone(),
                };
                release_rows.push((releases::key(tenant, row.at, row.event_id), releases::encode(&row)));
            }
            if let Some(addr) = addr {
                addr_rows.push((client_addrs::key(envelope.event_id.to_bytes()), client_addrs::encode(addr)));
            }
        } else {
            warn!(stream = event.stream, seq = event.seq, "event already folded; skipped");
            stats.skipped += 1;
        }
    }

    // Each family's rows go into the batch in key order: RocksDB's memtable remembers
    // where its last insert went, so an insert next to the previous one is cheap.
    let mut batch = WriteBatch::default();
    let messages_cf = store.cf(messages::CF)?;
    let mut search_rows: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut counters: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for (key, (before, record)) in &touched {
        if before.as_ref() == Some(record) {
            continue;
        }
        batch.put_cf(messages_cf, key, messages::encode(record));
        let old_rows = before.as_ref().map(search::entries).unwrap_or_default();
        let new_rows = search::entries(record);
        search_rows.extend(old_rows.difference(&new_rows).map(|gone| (gone.clone(), false)));
        search_rows.extend(new_rows.difference(&old_rows).map(|added| (added.clone(), true)));
        for k in before.as_ref().map(daily::contributions).unwrap_or_default() {
            *counters.entry(k).or_default() -= 1;
        }
        for k in daily::contributions(record) {
            *counters.entry(k).or_default() += 1;
        }
    }
    // A row is either added or removed by one record; two records never share a row
    // (the Postern id ends every key), so sorting by key alone keeps the batch's meaning.
    search_rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let search_cf = store.cf(search::CF)?;
    for (key, added) in &search_rows {
        if *added {
            batch.put_cf(search_cf, key, []);
        } else {
            batch.delete_cf(search_cf, key);
        }
    }
    let daily_cf = store.cf(daily::CF)?;
    for (key, delta) in counters.into_iter().filter(|(_, d)| *d != 0) {
        let current = store.get(daily::CF, &key)?.map(|v| daily::decode_count(&v)).unwrap_or(0) as i64;
        let next = current + delta;
        if next <= 0 {
            batch.delete_cf(daily_cf, key);
        } else {
            batch.put_cf(daily_cf, key, (next as u64).to_be_bytes());
        }
    }
    for (cf, rows) in [
        (policy_changes::CF, &mut policy_rows),
        (mail_submissions::CF, &mut submission_rows),
        (releases::CF, &mut release_rows),
        (client_addrs::CF, &mut addr_rows),
    ] {
        rows.sort_unstable();
        let handle = store.cf(cf)?;
        for (key, value) in rows.iter() {
            batch.put_cf(handle, key, value);
        }
    }
    let meta_cf = store.cf(meta::CF)?;
    for (stream, seq) in &checkpoints {
        batch.put_cf(meta_cf, meta::checkpoint_key(stream), seq.to_be_bytes());
    }
    store.write(batch)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::*;
    use ulid::Ulid;

    fn event(stream: &'static str, seq: u64, postern: &PosternId, at: u64, event: Event) -> StreamEvent {
        let tenant = TenantId::new("acme").unwrap();
        let event_type = event.event_type();
        let envelope = Envelope {
            event_id: Ulid::from_parts(at, u128::from(seq) + if stream == "MAIL_RAW" { 0 } else { 1 << 40 }),
            event_type,
            schema: event_type.current_schema(),
            postern_id: postern.clone(),
            tenant: tenant.clone(),
            causation_id: None,
            occurred_at: Timestamp(at),
            producer: "test".into(),
        };
        StreamEvent {
            stream,
            seq,
            subject: subject::subject_for(event_type, &tenant),
            payload: encode(&envelope, &event).into(),
        }
    }

    /// Two streams' worth of events about five messages: copies, dispositions,
    /// reclassifications (accepted, then one withdrawn), remediation, a policy change.
    fn streams() -> (Vec<StreamEvent>, Vec<StreamEvent>) {
        let tenant = TenantId::new("acme").unwrap();
        let (mut raw, mut events) = (Vec::new(), Vec::new());
        for i in 0..5u64 {
            let id = PosternId::from_message_id(&tenant, &format!("m{i}@x"));
            let at = 1_800_000_000_000 + i * 1000;
            raw.push(event(
                "MAIL_RAW",
                i + 1,
                &id,
                at,
                Event::RawMailReceived(RawMailReceived {
                    envelope_sender: format!("s{i}@d{}.example", i % 2),
                    envelope_recipients: vec!["journal@x".into()],
                    original_sender: None,
                    original_recipients: vec![format!("u{}@corp.example", i % 3)],
                    message_id: Some(format!("m{i}@x")),
                    client_addr: "127.0.0.1:1".into(),
                    helo: "h".into(),
                    tls: false,
                    size: 10,
                    received_at: Timestamp(at),
                    journal_format: JournalFormat::PlainBcc,
                    unwrap_problem: None,
                    gmail_spam: None,
                    gmail_phishy: None,
                    content_digest: format!("{i:032x}"),
                    body: MailBody::Inline(b"x".to_vec()),
                }),
            ));
            let mut push = |at: u64, e: Event| {
                let seq = events.len() as u64 + 1;
                events.push(event("MAIL_EVENTS", seq, &id, at, e));
            };
            push(
                at + 10,
                Event::DispositionAssigned(DispositionAssigned {
                    disposition: if i % 2 == 0 { Disposition::None } else { Disposition::Bulk },
                    attributes: vec![],
                    detections: vec![],
                    rules_version: "r".into(),
                    alert_id: format!("alert-{i}"),
                    postern_id: id.clone(),
                    headers: HeaderSummary { subject: Some(format!("Subject {i}")), ..Default::default() },
                }),
            );
            if i >= 3 {
                let sid = format!("sub-{i}");
                push(
                    at + 20,
                    Event::ReclassificationSubmitted(ReclassificationSubmitted {
                        submission_id: sid.clone(),
                        submission_type: SubmissionType::Team,
                        requested_by: "a".into(),
                        original: Disposition::None,
                        requested: Disposition::Malicious,
                        comment: String::new(),
                        client_addr: None,
                    }),
                );
                push(
                    at + 30,
                    Event::ReclassificationResolved(ReclassificationResolved {
                        submission_id: sid.clone(),
                        outcome: ReclassificationOutcome::Accepted,
                        resolved_by: "a".into(),
                        final_disposition: Disposition::Malicious,
                        comment: String::new(),
                        remediation: proto::DecidedRemediation::Nothing,
                        client_addr: None,
                    }),
                );
                if i == 4 {
                    push(
                        at + 40,
                        Event::ReclassificationResolved(ReclassificationResolved {
                            submission_id: sid,
                            outcome: ReclassificationOutcome::Withdrawn,
                            resolved_by: "a".into(),
                            final_disposition: Disposition::None,
                            comment: String::new(),
                            remediation: proto::DecidedRemediation::Nothing,
                            client_addr: None,
                        }),
                    );
                }
                push(
                    at + 50,
                    Event::RemediationCompleted(RemediationCompleted {
                        remediation_id: format!("r{i}"),
                        mailbox: "u@corp.example".into(),
                        action: RemediationAction::Quarantine,
                        outcome: RemediationOutcome::Done,
                        detail: String::new(),
                    }),
                );
            }
        }
        events.push(event(
            "MAIL_EVENTS",
            events.len() as u64 + 1,
            &PosternId::from_message_id(&tenant, "policy"),
            1_800_000_100_000,
            Event::PolicyChanged(PolicyChanged {
                changed_by: "admin".into(),
                revision: 1,
                policy_digest: "00".repeat(32),
                summary: "s".into(),
            }),
        ));
        (raw, events)
    }

    fn fold(order: &[&StreamEvent], batch: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for chunk in order.chunks(batch) {
            let owned: Vec<StreamEvent> = chunk.iter().map(|e| (*e).clone()).collect();
            apply_batch(&store, &owned).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn every_order_the_streams_allow_gives_the_same_views() {
        let (raw, events) = streams();
        let raw_first: Vec<&StreamEvent> = raw.iter().chain(&events).collect();
        let events_first: Vec<&StreamEvent> = events.iter().chain(&raw).collect();
        // Interleaved: one raw event, then two others, and so on.
        let mut interleaved = Vec::new();
        let (mut r, mut e) = (raw.iter(), events.iter());
        loop {
            let a = r.next();
            let b = e.next();
            let c = e.next();
            if a.is_none() && b.is_none() {
                break;
            }
            interleaved.extend(a.into_iter().chain(b).chain(c));
        }
        let (_d1, reference) = fold(&raw_first, 4);
        for (order, batch) in [(&events_first, 3), (&interleaved, 1), (&interleaved, 100), (&raw_first, 1)] {
            let (_d, other) = fold(order, batch);
            let report = crate::rebuild::verify(&reference, &other, 3).unwrap();
            assert_eq!(report.differences, 0, "batch {batch}: {:?}", report.first);
            assert!(report.keys > 50, "{} keys compared", report.keys);
        }
        // And the views say what the events say.
        let tenant = TenantId::new("acme").unwrap();
        let id = |i: u64| PosternId::from_message_id(&tenant, &format!("m{i}@x")).as_str().to_owned();
        let record = |i| crate::query::by_postern_id(&reference, "acme", &id(i)).unwrap().unwrap();
        assert_eq!(record(3).final_disposition(), Some(proto::Disposition::Malicious));
        assert_eq!(record(4).final_disposition(), Some(proto::Disposition::None), "withdrawn");
        assert_eq!(record(3).actions_taken(), vec!["quarantine"]);
        let report = crate::query::report(&reference, "acme", 20_833, 20_833, 5).unwrap();
        assert_eq!(report.days.len(), 1, "{report:?}");
        assert_eq!(report.days[0].messages, 5);
        assert_eq!(report.days[0].dispositions.get("MALICIOUS"), Some(&1));
        assert_eq!(report.days[0].reclassifications.get("WITHDRAWN"), Some(&1));
        // A repeat of everything changes nothing.
        let (_d, twice) = fold(&raw_first.iter().chain(&raw_first).copied().collect::<Vec<_>>(), 7);
        assert_eq!(crate::rebuild::verify(&reference, &twice, 3).unwrap().differences, 0);
    }

    #[test]
    fn search_pages_with_a_cursor_and_filters_combine() {
        let (raw, events) = streams();
        let all: Vec<&StreamEvent> = raw.iter().chain(&events).collect();
        let (_d, store) = fold(&all, 50);
        let q = |filters: Vec<(crate::store::schema::search::Field, String)>, limit, after| crate::query::SearchQuery {
            tenant: "acme".into(),
            from: 0,
            to: u64::MAX,
            postern_id: None,
            filters,
            limit,
            after,
        };
        let first = crate::query::search(&store, &q(vec![], 2, None)).unwrap();
        assert_eq!(first.messages.len(), 2);
        let cursor = crate::query::decode_cursor(first.next_cursor.as_deref().unwrap()).unwrap();
        let rest = crate::query::search(&store, &q(vec![], 10, Some(cursor))).unwrap();
        assert_eq!(rest.messages.len(), 3);
        assert!(rest.next_cursor.is_none());
        assert!(first.messages[1].received_at > rest.messages[0].received_at, "newest first");
        use crate::store::schema::search::Field;
        let both = crate::query::search(
            &store,
            &q(vec![(Field::SenderDomain, "d1.example".into()), (Field::Disposition, "MALICIOUS".into())], 10, None),
        )
        .unwrap();
        assert_eq!(both.messages.len(), 1, "{both:?}");
        assert_eq!(both.messages[0].subject.as_deref(), Some("Subject 3"));
    }
}
