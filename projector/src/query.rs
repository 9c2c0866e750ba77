//! Reading the views: lookups answered from keys and index prefix scans, and the trace
//! (one message's timeline) as the API and CLI show it.

use crate::error::StoreError;
use crate::store::Store;
use crate::store::schema::{message_id_index, messages};
use crate::view::message::MessageRecord;
use proto::Timestamp;
use serde::{Deserialize, Serialize};

/// At most this many messages answer one Message-ID lookup.
const MAX_PER_MESSAGE_ID: usize = 100;

pub fn by_postern_id(store: &Store, tenant: &str, postern_id: &str) -> Result<Option<MessageRecord>, StoreError> {
    store.get(messages::CF, &messages::key(tenant, postern_id))?.map(|b| messages::decode(&b)).transpose()
}

pub fn by_message_id(store: &Store, tenant: &str, message_id: &str) -> Result<Vec<MessageRecord>, StoreError> {
    let prefix = message_id_index::prefix(tenant, message_id);
    let mut out = Vec::new();
    for key in store.keys_with_prefix(message_id_index::CF, &prefix, MAX_PER_MESSAGE_ID)? {
        if let Some(id) = message_id_index::postern_id_of(&key, prefix.len())
            && let Some(record) = by_postern_id(store, tenant, &id)?
        {
            out.push(record);
        }
    }
    Ok(out)
}

/// One message as the API and `projector trace` present it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub tenant: String,
    pub postern_id: String,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub envelope_sender: Option<String>,
    pub recipients: Vec<String>,
    pub received_at: Option<String>,
    pub copies: usize,
    /// The disposition in force, `null` until the message is scored.
    pub disposition: Option<String>,
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
        events.sort_by_key(|e| (e.0, e.1));
        Trace {
            tenant: record.tenant.clone(),
            postern_id: record.postern_id.clone(),
            message_id: record.message_id.clone(),
            subject: headers.subject,
            from: headers.from,
            envelope_sender: record.copies.first().map(|c| c.sender().to_owned()),
            recipients: record.recipients(),
            received_at: record.copies.first().map(|c| Timestamp(c.at).to_rfc3339()),
            copies: record.copies.len(),
            disposition: verdict.map(|v| v.disposition.clone()),
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
