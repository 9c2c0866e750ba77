//! The tenant's audit trail, folded from its events: every policy change (PolicyChanged),
//! every reclassification written through the API (ReclassificationSubmitted and
//! ReclassificationResolved) and every release (a restore RemediationRequested with who
//! asked, since its schema 3), newest first, each with who, when, what, and for an API write
//! the address it came from (recorded in the event since ReclassificationSubmitted schema 2
//! and ReclassificationResolved schema 3; older events have none).

use crate::decide::SubmissionStatus;
use crate::error::StoreError;
use crate::store::Store;
use crate::store::schema::{client_addrs, policy_changes, releases};
use proto::Timestamp;
use serde::{Deserialize, Serialize};

/// One thing that changed the tenant's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339, UTC.
    pub at: String,
    /// `policy_changed`, `reclassification_submitted`, `reclassification_resolved` or
    /// `release_requested`.
    pub kind: String,
    pub who: String,
    pub what: String,
    /// The message a reclassification is about.
    pub postern_id: Option<String>,
    /// The address an API write came from (`ip:port`); none for a policy change (made by
    /// the CLI) and for events written before the address was recorded.
    pub from: Option<String>,
}

/// The API's answer: entries newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTrail {
    pub entries: Vec<AuditEntry>,
}

/// One revision of the tenant's policy, as its PolicyChanged event recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRevision {
    /// RFC 3339, UTC.
    pub at: String,
    pub changed_by: String,
    pub revision: u64,
    /// SHA-256 of the policy as stored.
    pub policy_digest: String,
    pub summary: String,
}

/// The tenant's newest `limit` policy changes.
pub fn policy_history(store: &Store, tenant: &str, limit: usize) -> Result<Vec<PolicyRevision>, StoreError> {
    newest(store, policy_changes::CF, &policy_changes::prefix(tenant), limit)?
        .iter()
        .map(|bytes| {
            let row = policy_changes::decode(bytes)?;
            Ok(PolicyRevision {
                at: Timestamp(row.at).to_rfc3339(),
                changed_by: row.changed_by,
                revision: row.revision,
                policy_digest: row.policy_digest,
                summary: row.summary,
            })
        })
        .collect()
}

/// The tenant's newest `limit` audit entries.
pub fn trail(store: &Store, tenant: &str, limit: usize) -> Result<AuditTrail, StoreError> {
    let mut entries: Vec<(u64, AuditEntry)> = Vec::new();
    for bytes in newest(store, policy_changes::CF, &policy_changes::prefix(tenant), limit)? {
        let row = policy_changes::decode(&bytes)?;
        let what = if row.revision == 0 {
            row.summary.clone()
        } else {
            format!("revision {} (sha256 {}): {}", row.revision, short(&row.policy_digest), row.summary)
        };
        entries.push((row.at, entry(row.at, "policy_changed", &row.changed_by, what, None)));
    }
    for bytes in newest(store, releases::CF, &releases::prefix(tenant), limit)? {
        let row = releases::decode(&bytes)?;
        let what = format!("release {} in {} mailbox(es): {}", row.remediation_id, row.mailboxes.len(), row.reason);
        let mut e = entry(row.at, "release_requested", &row.released_by, what, Some(row.postern_id.clone()));
        e.from = client_addr(store, row.event_id)?;
        entries.push((row.at, e));
    }
    let mut seen = std::collections::BTreeSet::new();
    for status in SubmissionStatus::ALL {
        for record in crate::reclassify::with_submissions(store, tenant, status, limit)? {
            if !seen.insert(record.postern_id.clone()) {
                continue;
            }
            let pid = Some(record.postern_id.clone());
            for s in &record.submissions {
                let what = format!(
                    "{} submission {}: {} -> {}",
                    s.submission_type.as_str(),
                    s.submission_id,
                    s.original.as_str(),
                    s.requested.as_str()
                );
                let at = s.stamp.at;
                let mut e = entry(at, "reclassification_submitted", &s.requested_by, what, pid.clone());
                e.from = client_addr(store, s.stamp.event_id)?;
                entries.push((at, e));
            }
            for r in &record.resolutions {
                let what = format!(
                    "{} submission {}: final {}",
                    r.outcome.as_str(),
                    r.submission_id,
                    r.final_disposition.as_str()
                );
                let at = r.stamp.at;
                let mut e = entry(at, "reclassification_resolved", &r.resolved_by, what, pid.clone());
                e.from = client_addr(store, r.stamp.event_id)?;
                entries.push((at, e));
            }
        }
    }
    entries.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.kind.cmp(&a.1.kind)));
    entries.truncate(limit);
    Ok(AuditTrail { entries: entries.into_iter().map(|(_, e)| e).collect() })
}

/// The values of the newest `limit` rows under `prefix` (keys `prefix, time, event id`).
fn newest(store: &Store, cf: &'static str, prefix: &[u8], limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
    let upper = [prefix, &[0xff; 24]].concat();
    let mut keys = Vec::new();
    store.scan_reverse(cf, prefix, &upper, |key| {
        keys.push(key.to_vec());
        keys.len() < limit
    })?;
    let mut values = Vec::new();
    for key in keys {
        values.extend(store.get(cf, &key)?);
    }
    Ok(values)
}

fn entry(at: u64, kind: &str, who: &str, what: String, postern_id: Option<String>) -> AuditEntry {
    AuditEntry {
        at: Timestamp(at).to_rfc3339(),
        kind: kind.to_owned(),
        who: who.to_owned(),
        what,
        postern_id,
        from: None,
    }
}

/// The address the event's write came from, when it recorded one.
fn client_addr(store: &Store, event_id: [u8; 16]) -> Result<Option<String>, StoreError> {
    store.get(client_addrs::CF, &client_addrs::key(event_id))?.map(|bytes| client_addrs::decode(&bytes)).transpose()
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
