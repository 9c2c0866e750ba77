//! Per-tenant policies (DESIGN.md, "Dispositions, attributes and policies"): trusted,
//! acceptable and blocked senders, exempt recipients, the tenant's own and trusted domains,
//! the impersonation registry, thresholds and the post-delivery action per disposition.
//!
//! Policies live in the JetStream KV bucket `POSTERN_POLICIES` (key: tenant, value: the
//! policy as JSON). Every scorer loads the bucket before it scores and watches it, so a
//! change applies within moments with no restart ([`follow`]). `scorer policy` edits them;
//! a policy is validated ([`TenantPolicy::compile`]) before it is stored, and a value that
//! does not validate (written around the CLI) is logged and ignored, the previous policy
//! staying in force.
//!
//! What a policy does to a verdict, after the disposition table ([`crate::verdict`]) has
//! decided, in this order (the first that applies ends it):
//!
//! | entry | effect |
//! |---|---|
//! | every recipient is an exempt recipient | NONE (`policy_exempt_recipient`) |
//! | trusted sender | NONE (`policy_trusted_sender`) |
//! | blocked sender | MALICIOUS, CUSTOM_BLOCK_LIST (`policy_blocked_sender`) |
//! | acceptable sender | SPAM, SPOOF and BULK detections no longer decide (`policy_acceptable_sender`) |
//!
//! An entry with `verify_sender = true` is honoured only when the sender authenticated
//! (DMARC pass, or a passing DKIM signature or SPF aligned with the From domain).

use crate::analysis::domain::{aligned, domain_of, is_within};
use crate::auth::{AuthResults, Result3};
use crate::error::SetupError;
use proto::net::Network;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use proto::subject::BUCKET_POLICIES;

pub use proto::policy::{
    Action, BrandEntry, ImpersonationEntry, PatternKind, Role, SenderEntry, TenantPolicy, Thresholds,
};

/// A policy checked and ready to match.
#[derive(Debug, Clone, Default)]
pub struct CompiledPolicy {
    pub policy: TenantPolicy,
    trusted: Vec<Matcher>,
    acceptable: Vec<Matcher>,
    blocked: Vec<Matcher>,
    exempt: Vec<Matcher>,
    /// The impersonation registry's address regexes, by entry index.
    pub registry_regexes: Vec<Option<regex::Regex>>,
}

#[derive(Debug, Clone)]
struct Matcher {
    entry: SenderEntry,
    kind: MatcherKind,
}

#[derive(Debug, Clone)]
enum MatcherKind {
    Email(String),
    Domain(String),
    Ip(Network),
    Regex(regex::Regex),
}

/// Regexes are compiled with this size limit, so a policy cannot make matching slow.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// A policy that cannot be used: unreadable, or with entries that do not check out. The
/// message carries the parser's own (not a separate cause, so that it is shown once).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("not a policy file: {0}")]
    Toml(toml::de::Error),
    #[error("not a stored policy: {0}")]
    Json(serde_json::Error),
    /// Every problem, with where it is (`blocked_senders[1].pattern: bad regex ...`).
    #[error("{} problem(s): {}", .0.len(), .0.join("; "))]
    Invalid(Vec<String>),
}

/// A policy regex that does not compile (or would be too large).
#[derive(Debug, thiserror::Error)]
#[error("bad regex {pattern:?}: {}", .source.to_string().lines().last().unwrap_or("invalid"))]
struct BadRegex {
    pattern: String,
    source: regex::Error,
}

fn compile_regex(pattern: &str) -> Result<regex::Regex, BadRegex> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|source| BadRegex { pattern: pattern.to_owned(), source })
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// What the scorer adds to the shared policy type: reading a policy file and checking it.
pub trait PolicyFile: Sized {
    /// Parses a policy file (TOML).
    fn from_toml(text: &str) -> Result<Self, PolicyError>;
    /// Checks every entry; on failure, [`PolicyError::Invalid`] with every problem and
    /// where it is (`blocked_senders[1].pattern: bad regex ...`).
    fn compile(self) -> Result<CompiledPolicy, PolicyError>;
}

impl PolicyFile for TenantPolicy {
    fn from_toml(text: &str) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(PolicyError::Toml)
    }

    fn compile(self) -> Result<CompiledPolicy, PolicyError> {
        let mut problems = Vec::new();
        let mut matchers = |list: &[SenderEntry], field: &str| -> Vec<Matcher> {
            let mut out = Vec::new();
            for (i, entry) in list.iter().enumerate() {
                let pattern = entry.pattern.trim().to_lowercase();
                let kind = match entry.kind {
                    PatternKind::Email => match pattern.split_once('@') {
                        Some((local, domain)) if !local.is_empty() && valid_domain(domain) => {
                            Ok(MatcherKind::Email(pattern.clone()))
                        }
                        _ => Err(format!("{pattern:?} is not an email address")),
                    },
                    PatternKind::Domain => {
                        let d = pattern.trim_start_matches("*.").trim_end_matches('.').to_owned();
                        if valid_domain(&d) {
                            Ok(MatcherKind::Domain(d))
                        } else {
                            Err(format!("{pattern:?} is not a domain"))
                        }
                    }
                    PatternKind::Ip => pattern
                        .parse::<Network>()
                        .map(MatcherKind::Ip)
                        .map_err(|e| format!("{pattern:?} is not an IP address or network: {e}")),
                    PatternKind::Regex => {
                        compile_regex(&entry.pattern).map(MatcherKind::Regex).map_err(|e| e.to_string())
                    }
                };
                match kind {
                    Ok(kind) => out.push(Matcher { entry: entry.clone(), kind }),
                    Err(e) => problems.push(format!("{field}[{i}].pattern: {e}")),
                }
            }
            out
        };
        let trusted = matchers(&self.trusted_senders, "trusted_senders");
        let acceptable = matchers(&self.acceptable_senders, "acceptable_senders");
        let blocked = matchers(&self.blocked_senders, "blocked_senders");
        let exempt = matchers(&self.exempt_recipients, "exempt_recipients");
        for (field, list) in [("own_domains", &self.own_domains), ("trusted_domains", &self.trusted_domains)] {
            for (i, d) in list.iter().enumerate() {
                if !valid_domain(&d.trim().to_lowercase()) {
                    problems.push(format!("{field}[{i}]: {d:?} is not a domain"));
                }
            }
        }
        let mut registry_regexes = Vec::new();
        for (i, entry) in self.impersonation.iter().enumerate() {
            if entry.name.split_whitespace().map(str::len).sum::<usize>() < 3 {
                problems.push(format!("impersonation[{i}].name: {:?} is too short to match safely", entry.name));
            }
            if let Some(email) = &entry.email
                && !email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && valid_domain(d))
            {
                problems.push(format!("impersonation[{i}].email: {email:?} is not an email address"));
            }
            registry_regexes.push(match &entry.email_regex {
                Some(r) => match compile_regex(r) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        problems.push(format!("impersonation[{i}].email_regex: {e}"));
                        None
                    }
                },
                None => None,
            });
        }
        let t = &self.thresholds;
        if t.new_domain_strong_days == 0 || t.new_domain_strong_days > t.new_domain_weak_days {
            problems.push(format!(
                "thresholds: new_domain_strong_days ({}) must be at least 1 and at most new_domain_weak_days ({})",
                t.new_domain_strong_days, t.new_domain_weak_days
            ));
        }
        if !(0.5..=1.0).contains(&t.content_spam) {
            problems.push(format!("thresholds.content_spam: {} is outside 0.5 to 1.0", t.content_spam));
        }
        for name in self.actions.keys() {
            if name.parse::<proto::Disposition>().is_err() {
                problems.push(format!("actions: {name:?} is not a disposition"));
            }
        }
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }
        let mut policy = self;
        policy.own_domains = policy.own_domains.iter().map(|d| d.trim().to_lowercase()).collect();
        policy.trusted_domains = policy.trusted_domains.iter().map(|d| d.trim().to_lowercase()).collect();
        Ok(CompiledPolicy { policy, trusted, acceptable, blocked, exempt, registry_regexes })
    }
}

/// Who sent a message, as the policy matches it.
#[derive(Debug, Clone, Default)]
pub struct Sender<'a> {
    /// The header From address and the envelope sender (either may be empty).
    pub addresses: Vec<String>,
    /// The sending server, when known (the first external hop).
    pub ip: Option<std::net::IpAddr>,
    pub from_domain: Option<String>,
    pub auth: Option<&'a AuthResults>,
}

impl Sender<'_> {
    /// DMARC pass, or DKIM / SPF passing for a domain aligned with From.
    pub fn authenticated(&self) -> bool {
        let Some(auth) = self.auth else { return false };
        if auth.dmarc.as_ref().is_some_and(|d| d.outcome == Result3::Pass) {
            return true;
        }
        let Some(from) = &self.from_domain else { return false };
        auth.vouches_for(from)
            || auth.spf.as_ref().is_some_and(|s| s.outcome == Result3::Pass && aligned(&s.domain, from))
    }
}

impl Matcher {
    fn matches_address(&self, address: &str) -> bool {
        let address = address.trim().to_lowercase();
        match &self.kind {
            MatcherKind::Email(e) => *e == address,
            MatcherKind::Domain(d) => domain_of(&address).is_some_and(|a| is_within(&a, d)),
            MatcherKind::Regex(r) => r.is_match(&address),
            MatcherKind::Ip(_) => false,
        }
    }

    fn matches_sender(&self, sender: &Sender<'_>) -> bool {
        let hit = match &self.kind {
            MatcherKind::Ip(net) => sender.ip.is_some_and(|ip| net.contains(ip)),
            _ => sender.addresses.iter().filter(|a| !a.is_empty()).any(|a| self.matches_address(a)),
        };
        hit && (!self.entry.verify_sender || sender.authenticated())
    }

    fn describe(&self) -> String {
        let comment = if self.entry.comment.is_empty() { String::new() } else { format!(" ({})", self.entry.comment) };
        format!("{:?} {}{comment}", self.entry.kind, self.entry.pattern)
    }
}

/// What the policy decided about a sender or the recipients, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyMatch {
    ExemptRecipients(String),
    Trusted(String),
    Blocked(String),
    Acceptable(String),
}

impl CompiledPolicy {
    pub fn decide(&self, sender: &Sender<'_>, recipients: &[String]) -> Option<PolicyMatch> {
        if !recipients.is_empty()
            && !self.exempt.is_empty()
            && recipients.iter().all(|r| self.exempt.iter().any(|m| m.matches_address(r)))
        {
            let first = self.exempt.iter().find(|m| m.matches_address(&recipients[0])).map(Matcher::describe);
            return Some(PolicyMatch::ExemptRecipients(first.unwrap_or_default()));
        }
        let find = |list: &[Matcher]| list.iter().find(|m| m.matches_sender(sender)).map(Matcher::describe);
        if let Some(m) = find(&self.trusted) {
            return Some(PolicyMatch::Trusted(m));
        }
        if let Some(m) = find(&self.blocked) {
            return Some(PolicyMatch::Blocked(m));
        }
        find(&self.acceptable).map(PolicyMatch::Acceptable)
    }

    /// Whether a domain is one of the tenant's trusted domains (or below one).
    pub fn is_trusted_domain(&self, domain: &str) -> bool {
        self.policy.trusted_domains.iter().any(|t| is_within(domain, t))
    }

    pub fn is_own_domain(&self, domain: &str) -> bool {
        self.policy.own_domains.iter().any(|t| is_within(domain, t))
    }
}

/// The policies every scorer holds, by tenant (a tenant without one gets the defaults).
#[derive(Debug, Default, Clone)]
pub struct Policies(Arc<RwLock<HashMap<String, Arc<CompiledPolicy>>>>);

impl Policies {
    pub fn for_tenant(&self, tenant: &str) -> Option<Arc<CompiledPolicy>> {
        self.0.read().expect("policies lock").get(tenant).cloned()
    }

    /// Applies one KV value (None: deleted). A value that does not validate is refused and
    /// the tenant keeps what it had.
    pub fn apply(&self, tenant: &str, value: Option<&[u8]>) -> Result<(), PolicyError> {
        let mut map = self.0.write().expect("policies lock");
        match value {
            None => {
                map.remove(tenant);
                Ok(())
            }
            Some(bytes) => {
                let policy: TenantPolicy = serde_json::from_slice(bytes).map_err(PolicyError::Json)?;
                let compiled = policy.compile()?;
                map.insert(tenant.to_owned(), Arc::new(compiled));
                Ok(())
            }
        }
    }
}

/// How many revisions of each tenant's policy the bucket keeps.
const POLICY_HISTORY: i64 = 16;

/// The policies bucket: opened (its replica count checked), or created on `replicas` nodes.
pub async fn policies_bucket(
    js: &async_nats::jetstream::Context,
    replicas: usize,
) -> Result<async_nats::jetstream::kv::Store, SetupError> {
    if let Ok(kv) = js.get_key_value(BUCKET_POLICIES).await {
        let stream_name = format!("KV_{BUCKET_POLICIES}");
        let stream = js
            .get_stream(&stream_name)
            .await
            .map_err(|e| SetupError::unavailable(format!("stream {stream_name}"), e))?;
        let found = stream.cached_info().config.num_replicas;
        proto::cluster::check_stream_replicas(&stream_name, found, replicas)?;
        return Ok(kv);
    }
    js.create_stream(proto::streams::kv_bucket(
        BUCKET_POLICIES,
        "Postern: per-tenant scoring policies (JSON)",
        POLICY_HISTORY,
        replicas,
    ))
    .await
    .map_err(|e| SetupError::unavailable(format!("KV bucket {BUCKET_POLICIES}"), e))?;
    js.get_key_value(BUCKET_POLICIES)
        .await
        .map_err(|e| SetupError::unavailable(format!("KV bucket {BUCKET_POLICIES}"), e))
}

/// Loads every tenant's policy, then keeps following the bucket until the connection
/// closes. Returns once the current values are loaded.
pub async fn follow(
    js: &async_nats::jetstream::Context,
    policies: Policies,
    replicas: usize,
) -> Result<tokio::task::JoinHandle<()>, SetupError> {
    use async_nats::jetstream::kv::Operation;
    use futures::StreamExt;
    let kv = policies_bucket(js, replicas).await?;
    let mut watch = kv
        .watch_with_history(">")
        .await
        .map_err(|e| SetupError::unavailable(format!("watching {BUCKET_POLICIES}"), e))?;
    let current = kv.status().await.map_err(|e| SetupError::unavailable(BUCKET_POLICIES, e))?.values();
    let apply = move |entry: async_nats::jetstream::kv::Entry| {
        let value = matches!(entry.operation, Operation::Put).then_some(&entry.value[..]);
        match policies.apply(&entry.key, value) {
            Ok(()) => tracing::info!(tenant = entry.key, revision = entry.revision, "policy in force"),
            Err(e) => tracing::error!(
                tenant = entry.key,
                revision = entry.revision,
                error = %e,
                "policy refused; the previous one stays in force"
            ),
        }
        entry.delta
    };
    if current > 0 {
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(30), watch.next()).await {
                Ok(Some(Ok(entry))) => {
                    if apply(entry) == 0 {
                        break;
                    }
                }
                Ok(Some(Err(e))) => tracing::warn!(error = %e, "reading {BUCKET_POLICIES}"),
                Ok(None) => return Err(SetupError::unavailable(BUCKET_POLICIES, "the watch ended")),
                Err(_) => return Err(SetupError::unavailable(BUCKET_POLICIES, "no value for 30 s while loading")),
            }
        }
    }
    Ok(tokio::spawn(async move {
        while let Some(next) = watch.next().await {
            match next {
                Ok(entry) => {
                    apply(entry);
                }
                Err(e) => tracing::warn!(error = %e, "watching {BUCKET_POLICIES}"),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
auto_remediate = true
own_domains = ["corp.example"]
trusted_domains = ["partner.example"]
trusted_senders = [{ pattern = "ceo@partner.example", type = "EMAIL", verify_sender = true }]
acceptable_senders = [{ pattern = "news.example", type = "DOMAIN", comment = "our newsletter" }]
blocked_senders = [
  { pattern = "spam.example", type = "DOMAIN" },
  { pattern = "^billing-[0-9]+@", type = "REGEX" },
  { pattern = "198.51.100.0/24", type = "IP" },
]
exempt_recipients = [{ pattern = "abuse@corp.example", type = "EMAIL" }]
impersonation = [{ name = "Jane Doe", email = "jane@corp.example", role = "executive" }]
[thresholds]
content_spam = 0.95
[actions]
MALICIOUS = "quarantine"
SPAM = "move_to_junk"
"#;

    fn sender(addr: &str) -> Sender<'static> {
        Sender { addresses: vec![addr.into()], from_domain: domain_of(addr), ..Default::default() }
    }

    #[test]
    fn the_example_compiles_and_matches() {
        let p = TenantPolicy::from_toml(EXAMPLE).unwrap().compile().unwrap();
        assert_eq!(p.policy.thresholds.content_spam, 0.95);
        assert!(p.policy.auto_remediate && !p.policy.review_team_submissions);
        assert_eq!(p.policy.thresholds.new_domain_strong_days, 7, "unset thresholds keep their defaults");
        assert!(matches!(p.decide(&sender("x@mail.spam.example"), &[]), Some(PolicyMatch::Blocked(_))));
        assert!(matches!(p.decide(&sender("Billing-42@any.example"), &[]), Some(PolicyMatch::Blocked(_))));
        let from_net = Sender { ip: Some("198.51.100.7".parse().unwrap()), ..sender("a@b.example") };
        assert!(matches!(p.decide(&from_net, &[]), Some(PolicyMatch::Blocked(_))));
        assert!(matches!(p.decide(&sender("a@news.example"), &[]), Some(PolicyMatch::Acceptable(_))));
        assert_eq!(p.decide(&sender("a@other.example"), &[]), None);
        // verify_sender: not honoured without authentication.
        assert_eq!(p.decide(&sender("ceo@partner.example"), &[]), None);
        let only_abuse = ["abuse@corp.example".to_owned()];
        assert!(matches!(p.decide(&sender("x@spam.example"), &only_abuse), Some(PolicyMatch::ExemptRecipients(_))));
        let mixed = ["abuse@corp.example".to_owned(), "bob@corp.example".to_owned()];
        assert!(matches!(p.decide(&sender("x@spam.example"), &mixed), Some(PolicyMatch::Blocked(_))));
        assert!(p.is_trusted_domain("www.partner.example"));
        assert!(p.is_own_domain("corp.example"));
    }

    #[test]
    fn bad_entries_are_refused_with_the_reason() {
        let bad = r#"
blocked_senders = [{ pattern = "([a-z", type = "REGEX" }, { pattern = "not-an-ip", type = "IP" }]
own_domains = ["bad domain"]
impersonation = [{ name = "Al", role = "finance" }]
[thresholds]
new_domain_strong_days = 40
content_spam = 2.0
[actions]
WORRYING = "quarantine"
"#;
        let Err(PolicyError::Invalid(problems)) = TenantPolicy::from_toml(bad).unwrap().compile() else {
            panic!("a bad policy compiled");
        };
        let all = problems.join("\n");
        for expected in [
            "blocked_senders[0].pattern: bad regex",
            "blocked_senders[1].pattern",
            "own_domains[0]",
            "impersonation[0].name",
            "new_domain_strong_days (40)",
            "content_spam: 2",
            "\"WORRYING\" is not a disposition",
        ] {
            assert!(all.contains(expected), "{expected} missing from:\n{all}");
        }
        assert!(TenantPolicy::from_toml("unknown_field = 1").is_err());
        assert!(TenantPolicy::from_toml("[actions]\nSPAM = \"explode\"").is_err());
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../policy.example.toml");
        let compiled = TenantPolicy::from_toml(text).unwrap().compile().unwrap();
        assert_eq!(compiled.policy.impersonation.len(), 2);
        assert_eq!(compiled.policy.actions["MALICIOUS"], Action::Quarantine);
    }

    #[test]
    fn a_refused_value_keeps_the_previous_policy() {
        let policies = Policies::default();
        let good = serde_json::to_vec(&TenantPolicy::from_toml(EXAMPLE).unwrap()).unwrap();
        policies.apply("acme", Some(&good)).unwrap();
        let bad = br#"{"blocked_senders":[{"pattern":"(","type":"REGEX"}]}"#;
        assert!(policies.apply("acme", Some(bad)).is_err());
        assert_eq!(policies.for_tenant("acme").unwrap().policy.own_domains, vec!["corp.example"]);
        policies.apply("acme", None).unwrap();
        assert!(policies.for_tenant("acme").is_none());
    }
}
