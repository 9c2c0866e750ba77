//! A tenant's policy as it is stored (JSON in the KV bucket `subject::BUCKET_POLICIES`,
//! written from a TOML file by `scorer policy set`): the one type the scorer, which applies
//! it, and the projector, which reads its reclassification settings, both use. Only the
//! shape lives here; checking and compiling it is the scorer's.

use crate::RemediationAction;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The token classifier's default cutoff for deciding on its own.
pub const DEFAULT_CONTENT_SPAM: f64 = 0.99;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantPolicy {
    /// The tenant's own domains: mail from outside them imitating the registry is BEC, and
    /// domains that look like them are lookalikes.
    pub own_domains: Vec<String>,
    /// Exempt from lookalike and new-domain detections (and protected from lookalikes).
    pub trusted_domains: Vec<String>,
    pub trusted_senders: Vec<SenderEntry>,
    pub acceptable_senders: Vec<SenderEntry>,
    pub blocked_senders: Vec<SenderEntry>,
    pub exempt_recipients: Vec<SenderEntry>,
    pub impersonation: Vec<ImpersonationEntry>,
    pub thresholds: Thresholds,
    /// Post-delivery action per disposition (`MALICIOUS = "quarantine"`); missing: none.
    pub actions: BTreeMap<String, Action>,
    /// Carry out the action at first scoring too (not only when a reclassification
    /// changes the disposition).
    pub auto_remediate: bool,
    /// TEAM reclassifications wait for a second analyst's decision, like USER ones.
    pub review_team_submissions: bool,
    /// Withdrawing an accepted reclassification whose action moved mail puts the mail back
    /// (a release) at once; without it the withdrawal's answer offers the release.
    pub release_on_withdraw: bool,
    /// A user's phish report by mail moves the reported message out of that user's own
    /// mailbox at once (the MALICIOUS action, else quarantine); the team's acceptance then
    /// moves it out of every mailbox as `actions` says.
    pub phish_submission_response: bool,
    /// Brands for the brand-impersonation check, added to the shipped table
    /// (`scorer/data/brands.tsv`); an entry with a shipped brand's name replaces it (for a
    /// tenant that is that brand, or works with its domains).
    pub brands: Vec<BrandEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandEntry {
    pub name: String,
    /// The names a lure would show (matched as whole words, case-insensitive).
    pub names: Vec<String>,
    /// The brand's own domains (subdomains included).
    #[serde(default)]
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderEntry {
    pub pattern: String,
    #[serde(rename = "type")]
    pub kind: PatternKind,
    #[serde(default)]
    pub comment: String,
    /// Honour the entry only when the sender authenticated.
    #[serde(default)]
    pub verify_sender: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PatternKind {
    /// An address, compared case-insensitively.
    Email,
    /// A domain and its subdomains.
    Domain,
    /// An address or CIDR network of the sending server.
    Ip,
    /// A regular expression matched against the address.
    Regex,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpersonationEntry {
    /// The name people know (a person or a team): "Jane Doe", "IT Help Desk".
    pub name: String,
    /// Their real address, when they have one; mail from it is not impersonation.
    #[serde(default)]
    pub email: Option<String>,
    /// Or a regular expression for their real addresses.
    #[serde(default)]
    pub email_regex: Option<String>,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Executive,
    Finance,
    Hr,
    ItHelpDesk,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// A sender or link domain younger than this many days is a strong signal.
    pub new_domain_strong_days: u32,
    /// Younger than this: an attribute only.
    pub new_domain_weak_days: u32,
    /// The token classifier's cutoff for deciding SPAM / phishing on its own (0.5 to 1.0);
    /// below it the classifier's probabilities are features of the learned combination.
    pub content_spam: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { new_domain_strong_days: 7, new_domain_weak_days: 30, content_spam: DEFAULT_CONTENT_SPAM }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    None,
    MoveToJunk,
    MoveToTrash,
    Quarantine,
    SoftDelete,
    HardDelete,
}

impl Action {
    /// What the remediator is asked to do; None for `none`.
    pub fn remediation(self) -> Option<RemediationAction> {
        match self {
            Action::None => None,
            Action::MoveToJunk => Some(RemediationAction::MoveToJunk),
            Action::MoveToTrash => Some(RemediationAction::MoveToTrash),
            Action::Quarantine => Some(RemediationAction::Quarantine),
            Action::SoftDelete => Some(RemediationAction::SoftDelete),
            Action::HardDelete => Some(RemediationAction::HardDelete),
        }
    }
}
