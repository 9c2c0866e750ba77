//! Reading the views: lookups answered from keys and index prefix scans, and the trace
//! (one message's timeline) as the API and CLI show it.

use crate::error::StoreError;
use crate::store::Store;
use crate::store::schema::messages;
use crate::store::schema::search::{self, Field};
use crate::view::message::MessageRecord;
use proto::{PosternId, Timestamp};
use serde::{Deserialize, Serialize};

/// At most this many messages answer one Message-ID lookup.
const MAX_PER_MESSAGE_ID: usize = 100;

pub fn by_postern_id(store: &Store, tenant: &str, postern_id: &str) -> Result<Option<MessageRecord>, StoreError> {
    store.get(messages::CF, &messages::key(tenant, postern_id))?.map(|b| messages::decode(&b)).transpose()
}

/// The messages with this Message-ID (normally one), from the search index's Message-ID
/// rows, oldest first.
pub fn by_message_id(store: &Store, tenant: &str, message_id: &str) -> Result<Vec<MessageRecord>, StoreError> {
    let prefix = search::prefix(tenant, Field::MessageId, message_id);
    let mut out = Vec::new();
    for key in store.keys_with_prefix(search::CF, &prefix, MAX_PER_MESSAGE_ID)? {
        if let Some((_, id)) = search::decode_tail(&key, prefix.len())
            && let Some(record) = by_postern_id(store, tenant, &id)?
        {
            out.push(record);
        }
    }
    Ok(out)
}

/// `GET /api/v1/messages`: the messages a lookup found (normally one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceList {
    pub messages: Vec<Trace>,
}

/// One message as the API and `projector trace` present it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Set when the trace shows the message as it stood at this time (`as_of`): only the
    /// events that had occurred by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    pub tenant: String,
    pub postern_id: String,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub envelope_sender: Option<String>,
    pub recipients: Vec<String>,
    pub received_at: Option<String>,
    pub copies: usize,
    /// The disposition in force (after reclassifications), `null` until the message is scored.
    pub disposition: Option<String>,
    /// The scorer's disposition.
    pub scored_disposition: Option<String>,
    /// Reclassifications: original, requested, status and final.
    pub reclassifications: Vec<crate::reclassify::SubmissionView>,
    /// Actions carried out in at least one mailbox.
    pub actions: Vec<String>,
    pub attributes: Vec<String>,
    pub alert_id: Option<String>,
    pub detections: Vec<TraceDetection>,
    pub events: Vec<TraceEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceDetection {
    pub name: String,
    pub score: f64,
    pub evidence: String,
}

/// One step of the timeline: what happened and what it changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub at: String,
    pub event_type: String,
    pub event_id: String,
    pub stream: String,
    pub seq: u64,
    pub summary: String,
}

impl Trace {
    /// The message as it stands now (`as_of` None), or as it stood at `as_of` (ms since the
    /// epoch); None when it had not arrived by then.
    pub fn at(record: &MessageRecord, as_of: Option<u64>) -> Option<Self> {
        match as_of {
            None => Some(Trace::of(record)),
            Some(t) => {
                let then = record.as_of(t)?;
                Some(Trace { as_of: Some(Timestamp(t).to_rfc3339()), ..Trace::of(&then) })
            }
        }
    }

    pub fn of(record: &MessageRecord) -> Self {
        let verdict = record.current_verdict();
        let headers = record.headers.clone().unwrap_or_default();
        let mut events: Vec<(u64, [u8; 16], TraceEvent)> = Vec::new();
        for c in &record.copies {
            events.push((
                c.at,
                c.event_id,
                TraceEvent {
                    at: Timestamp(c.at).to_rfc3339(),
                    event_type: "RawMailReceived".into(),
                    event_id: ulid::Ulid::from_bytes(c.event_id).to_string(),
                    stream: c.position.stream.clone(),
                    seq: c.position.seq,
                    summary: format!(
                        "received {} bytes ({}) from {} for {} recipient(s){}",
                        c.size,
                        c.journal_format,
                        c.client_addr,
                        c.original_recipients.len(),
                        c.unwrap_problem.as_ref().map(|p| format!("; not unwrapped: {p}")).unwrap_or_default()
                    ),
                },
            ));
        }
        for v in &record.verdicts {
            events.push((
                v.at,
                v.event_id,
                TraceEvent {
                    at: Timestamp(v.at).to_rfc3339(),
                    event_type: "DispositionAssigned".into(),
                    event_id: ulid::Ulid::from_bytes(v.event_id).to_string(),
                    stream: v.position.stream.clone(),
                    seq: v.position.seq,
                    summary: format!(
                        "disposition {} by {} ({} detection(s)), alert {}",
                        v.disposition,
                        v.rules_version,
                        v.detections.len(),
                        v.alert_id
                    ),
                },
            ));
        }
        let mut push = |stamp: &crate::view::message::Stamp, event_type: &str, summary: String| {
            events.push((
                stamp.at,
                stamp.event_id,
                TraceEvent {
                    at: Timestamp(stamp.at).to_rfc3339(),
                    event_type: event_type.into(),
                    event_id: ulid::Ulid::from_bytes(stamp.event_id).to_string(),
                    stream: stamp.position.stream.clone(),
                    seq: stamp.position.seq,
                    summary,
                },
            ))
        };
        for s in &record.submissions {
            push(
                &s.stamp,
                "ReclassificationSubmitted",
                format!(
                    "{} submission {} by {}: {} -> {}{}",
                    s.submission_type.as_str(),
                    s.submission_id,
                    s.requested_by,
                    s.original.as_str(),
                    s.requested.as_str(),
                    if s.comment.is_empty() { String::new() } else { format!(" ({})", s.comment) }
                ),
            );
        }
        for r in &record.resolutions {
            push(
                &r.stamp,
                "ReclassificationResolved",
                format!(
                    "submission {} {} by {}; final {}",
                    r.submission_id,
                    r.outcome.as_str(),
                    r.resolved_by,
                    r.final_disposition.as_str()
                ),
            );
        }
        for r in &record.remediations {
            push(
                &r.stamp,
                "RemediationRequested",
                format!("{} in {} mailbox(es): {}", r.action.as_str(), r.mailboxes.len(), r.reason),
            );
        }
        for r in &record.remediation_results {
            push(
                &r.stamp,
                "RemediationCompleted",
                format!("{} {} in {}: {}", r.action.as_str(), r.outcome.as_str(), r.mailbox, r.detail),
            );
        }
        events.sort_by_key(|e| (e.0, e.1));
        Trace {
            as_of: None,
            tenant: record.tenant.clone(),
            postern_id: record.postern_id.clone(),
            message_id: record.message_id.clone(),
            subject: headers.subject,
            from: headers.from,
            envelope_sender: record.copies.first().map(|c| c.sender().to_owned()),
            recipients: record.recipients(),
            received_at: record.copies.first().map(|c| Timestamp(c.at).to_rfc3339()),
            copies: record.copies.len(),
            disposition: record.final_disposition().map(|d| d.as_str().to_owned()),
            scored_disposition: verdict.map(|v| v.disposition.as_str().to_owned()),
            reclassifications: record
                .submissions
                .iter()
                .filter_map(|s| crate::reclassify::view_of(record, &s.submission_id))
                .collect(),
            actions: record.actions_taken(),
            attributes: verdict.map(|v| v.attributes.clone()).unwrap_or_default(),
            alert_id: verdict.map(|v| v.alert_id.clone()),
            detections: verdict
                .map(|v| {
                    v.detections
                        .iter()
                        .map(|(name, score, evidence)| TraceDetection {
                            name: name.clone(),
                            score: f64::from(*score) / 1000.0,
                            evidence: evidence.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            events: events.into_iter().map(|(_, _, e)| e).collect(),
        }
    }
}

/// An investigation search: every filter must hold; newest first.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub tenant: String,
    /// Received at or after (ms).
    pub from: u64,
    /// Received before (ms).
    pub to: u64,
    pub postern_id: Option<String>,
    /// (field, value); subject words come one per filter.
    pub filters: Vec<(Field, String)>,
    pub limit: usize,
    /// Continue after this (received_at, postern_id), from a previous page.
    pub after: Option<(u64, String)>,
}

/// One result line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub postern_id: String,
    pub message_id: Option<String>,
    pub received_at: String,
    pub from: Option<String>,
    pub subject: Option<String>,
    pub disposition: Option<String>,
    pub recipients: usize,
    /// The first recipients (at most [`SearchHit::TO_SHOWN`]), for a result line.
    #[serde(default)]
    pub to: Vec<String>,
    /// The scorer's attributes (NEW_DOMAIN_SENDER, BEC, ...).
    #[serde(default)]
    pub attributes: Vec<String>,
    pub alert_id: Option<String>,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    pub messages: Vec<SearchHit>,
    /// Give it as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Index keys read to answer.
    pub scanned: usize,
}

/// At most this many index keys are read for one page; a page that reaches it ends early
/// with a cursor (the filters matched too little of the driving index).
pub const MAX_SCAN: usize = 100_000;

pub fn encode_cursor(at: u64, postern_id: &str) -> String {
    format!("{at}.{postern_id}")
}

pub fn decode_cursor(cursor: &str) -> Option<(u64, String)> {
    let (at, id) = cursor.split_once('.')?;
    let id = PosternId::parse(id).ok()?;
    Some((at.parse().ok()?, id.as_str().to_owned()))
}

impl SearchHit {
    /// How many recipients a result line names.
    pub const TO_SHOWN: usize = 3;

    pub fn of(record: &MessageRecord) -> Self {
        let headers = record.headers.clone().unwrap_or_default();
        let recipients = record.recipients();
        SearchHit {
            postern_id: record.postern_id.clone(),
            message_id: record.message_id.clone(),
            received_at: Timestamp(record.received_at()).to_rfc3339(),
            from: headers.from,
            subject: headers.subject,
            disposition: record.final_disposition().map(|d| d.as_str().to_owned()),
            recipients: recipients.len(),
            to: recipients.into_iter().take(Self::TO_SHOWN).collect(),
            attributes: record.current_verdict().map(|v| v.attributes.clone()).unwrap_or_default(),
            alert_id: record.current_verdict().map(|v| v.alert_id.clone()),
            actions: record.actions_taken(),
        }
    }
}

/// Answers a search from the `search` index: one field drives a reverse range scan
/// (the most selective given), the others are checked against the record's own index rows.
pub fn search(store: &Store, q: &SearchQuery) -> Result<SearchPage, StoreError> {
    let tenant = q.tenant.as_str();
    let limit = q.limit.clamp(1, 1000);
    let matches = |record: &MessageRecord| {
        let rows = search::entries(record);
        let at = record.received_at();
        at >= q.from
            && at < q.to
            && q.filters
                .iter()
                .all(|(field, value)| rows.contains(&search::key(tenant, *field, value, at, &record.postern_id)))
    };
    if let Some(pid) = &q.postern_id {
        let hit = by_postern_id(store, tenant, pid)?.filter(|r| matches(r));
        return Ok(SearchPage { messages: hit.iter().map(SearchHit::of).collect(), next_cursor: None, scanned: 1 });
    }
    const SELECTIVITY: [Field; 8] = [
        Field::AlertId,
        Field::MessageId,
        Field::Sender,
        Field::Recipient,
        Field::SenderDomain,
        Field::SubjectWord,
        Field::Action,
        Field::Disposition,
    ];
    let (field, value) = SELECTIVITY
        .iter()
        .find_map(|f| q.filters.iter().find(|(g, _)| g == f).cloned())
        .unwrap_or((Field::Time, String::new()));
    let prefix = search::prefix(tenant, field, &value);
    let lower = [prefix.as_slice(), &q.from.to_be_bytes()].concat();
    let upper = match &q.after {
        // Everything strictly before the cursor's key.
        Some((at, id)) => [prefix.as_slice(), &at.to_be_bytes(), id.as_bytes()].concat(),
        None => [prefix.as_slice(), &q.to.to_be_bytes()].concat(),
    };
    let mut hits = Vec::new();
    let mut scanned = 0;
    let mut last = None;
    let mut error = None;
    store.scan_reverse(search::CF, &lower, &upper, |key| {
        scanned += 1;
        let Some((at, id)) = search::decode_tail(key, prefix.len()) else { return true };
        last = Some((at, id.clone()));
        match by_postern_id(store, tenant, &id) {
            Ok(Some(record)) if matches(&record) => hits.push(SearchHit::of(&record)),
            Ok(_) => {}
            Err(e) => {
                error = Some(e);
                return false;
            }
        }
        hits.len() < limit && scanned < MAX_SCAN
    })?;
    if let Some(e) = error {
        return Err(e);
    }
    let more = hits.len() >= limit || scanned >= MAX_SCAN;
    let next_cursor = if more { last.map(|(at, id)| encode_cursor(at, &id)) } else { None };
    Ok(SearchPage { messages: hits, next_cursor, scanned })
}

/// The daily report of a tenant over a range of days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tenant: String,
    pub from: String,
    pub to: String,
    pub days: Vec<ReportDay>,
    pub top_sender_domains: Vec<(String, u64)>,
    pub top_recipients: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDay {
    pub date: String,
    pub messages: u64,
    /// Final disposition -> messages.
    pub dispositions: std::collections::BTreeMap<String, u64>,
    /// Reclassification status (PENDING, ACCEPTED, REJECTED, WITHDRAWN) -> submissions.
    pub reclassifications: std::collections::BTreeMap<String, u64>,
}

/// At most this many days in one report.
pub const MAX_REPORT_DAYS: u32 = 366;

/// Reads the day counters of `[from_day, to_day]` (days since 1970) and ranks the top
/// `top` sender domains and recipients over the whole range.
pub fn report(store: &Store, tenant: &str, from_day: u32, to_day: u32, top: usize) -> Result<Report, StoreError> {
    use crate::store::schema::daily;
    use std::collections::HashMap;
    let mut days = Vec::new();
    let mut domains: HashMap<String, u64> = HashMap::new();
    let mut recipients: HashMap<String, u64> = HashMap::new();
    for day in from_day..=to_day {
        let prefix = daily::day_prefix(tenant, day);
        let mut row = ReportDay {
            date: Timestamp(u64::from(day) * 86_400_000).date(),
            messages: 0,
            dispositions: Default::default(),
            reclassifications: Default::default(),
        };
        store.entries_with_prefix(daily::CF, &prefix, |key, value| {
            let count = daily::decode_count(value);
            if let Some((kind, v)) = daily::decode_tail(key, prefix.len()) {
                match kind {
                    daily::MESSAGES => row.messages = count,
                    daily::DISPOSITION => {
                        row.dispositions.insert(v, count);
                    }
                    daily::RECLASSIFICATION => {
                        row.reclassifications.insert(v, count);
                    }
                    daily::SENDER_DOMAIN => *domains.entry(v).or_default() += count,
                    daily::RECIPIENT => *recipients.entry(v).or_default() += count,
                    _ => {}
                }
            }
            true
        })?;
        if row.messages > 0 || !row.reclassifications.is_empty() {
            days.push(row);
        }
    }
    let rank = |map: HashMap<String, u64>| {
        let mut v: Vec<(String, u64)> = map.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(top);
        v
    };
    Ok(Report {
        tenant: tenant.to_owned(),
        from: Timestamp(u64::from(from_day) * 86_400_000).date(),
        to: Timestamp(u64::from(to_day) * 86_400_000).date(),
        days,
        top_sender_domains: rank(domains),
        top_recipients: rank(recipients),
    })
}

impl Report {
    /// `date,kind,value,count` lines (kind: messages, disposition, reclassification,
    /// top_sender_domain, top_recipient; the top lists carry the range's first date).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("date,kind,value,count\n");
        let field = |s: &str| {
            if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
        };
        for d in &self.days {
            out.push_str(&format!("{},messages,,{}\n", d.date, d.messages));
            for (k, v) in &d.dispositions {
                out.push_str(&format!("{},disposition,{},{v}\n", d.date, field(k)));
            }
            for (k, v) in &d.reclassifications {
                out.push_str(&format!("{},reclassification,{},{v}\n", d.date, field(k)));
            }
        }
        for (k, v) in &self.top_sender_domains {
            out.push_str(&format!("{},top_sender_domain,{},{v}\n", self.from, field(k)));
        }
        for (k, v) in &self.top_recipients {
            out.push_str(&format!("{},top_recipient,{},{v}\n", self.from, field(k)));
        }
        out
    }
}
