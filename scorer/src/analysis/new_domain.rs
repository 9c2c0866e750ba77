//! NEW_DOMAIN_SENDER / NEW_DOMAIN_LINK: the sender's or a linked domain was registered
//! recently, per a registration table the operator loads (no lookups at score time).
//! Younger than 7 days is a strong signal (SUSPICIOUS), younger than 30 days a weak one
//! (the attribute and evidence only). Both thresholds are the tenant's policy's; its
//! trusted domains are exempt.

use super::ScoreContext;
use super::domain::organizational_domain;
use crate::error::DataFileError;
use proto::Attribute;
use std::collections::HashMap;
use std::path::Path;

pub const NEW_DOMAIN_SENDER_STRONG: &str = "new_domain_sender_strong";
pub const NEW_DOMAIN_SENDER_WEAK: &str = "new_domain_sender_weak";
pub const NEW_DOMAIN_LINK_STRONG: &str = "new_domain_link_strong";
pub const NEW_DOMAIN_LINK_WEAK: &str = "new_domain_link_weak";

/// Registration dates: domain (lower-case) -> days since 1970-01-01.
#[derive(Debug, Clone, Default)]
pub struct DomainAges(HashMap<String, i64>);

impl DomainAges {
    /// Reads `domain,YYYY-MM-DD` lines (`#` comments and blank lines skipped).
    pub fn parse(text: &str) -> Result<Self, DataFileError> {
        let mut map = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: String| DataFileError::Line { path: String::new(), line: n + 1, reason };
            let (domain, date) = line.split_once(',').ok_or_else(|| bad("expected domain,YYYY-MM-DD".to_owned()))?;
            let days = parse_date(date.trim()).ok_or_else(|| bad(format!("{date:?} is not YYYY-MM-DD")))?;
            map.insert(domain.trim().trim_end_matches('.').to_ascii_lowercase(), days);
        }
        Ok(DomainAges(map))
    }

    pub fn load(path: &Path) -> Result<Self, DataFileError> {
        DataFileError::load(path, Self::parse)
    }

    /// The registration day of the domain or, failing that, of its organizational domain.
    fn registered(&self, domain: &str) -> Option<(i64, String)> {
        self.0.get(domain).map(|d| (*d, domain.to_owned())).or_else(|| {
            let org = organizational_domain(domain);
            self.0.get(org).map(|d| (*d, org.to_owned()))
        })
    }
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let Some(ages) = ctx.facts.domain_ages.clone() else { return };
    let today = (ctx.facts.now.millis() / 86_400_000) as i64;
    let trusted = |d: &str| ctx.facts.policy.as_ref().is_some_and(|p| p.is_trusted_domain(d));
    if let Some(from) = ctx.from_domain()
        && !trusted(&from)
        && let Some((registered, domain)) = ages.registered(&from)
    {
        judge(ctx, today - registered, registered, &domain, true);
    }
    let hosts: Vec<String> = ctx.link_hosts().iter().filter(|host| !trusted(host)).cloned().collect();
    for host in hosts {
        if let Some((registered, domain)) = ages.registered(&host) {
            judge(ctx, today - registered, registered, &domain, false);
        }
    }
}

fn judge(ctx: &mut ScoreContext<'_>, age: i64, registered: i64, domain: &str, sender: bool) {
    let defaults = crate::policy::Thresholds::default();
    let thresholds = ctx.facts.policy.as_ref().map(|p| &p.policy.thresholds).unwrap_or(&defaults);
    let (strong_days, weak_days) =
        (i64::from(thresholds.new_domain_strong_days), i64::from(thresholds.new_domain_weak_days));
    if !(0..weak_days).contains(&age) {
        return;
    }
    let date = format_date(registered);
    let (name, score) = match (sender, age < strong_days) {
        (true, true) => (NEW_DOMAIN_SENDER_STRONG, 6000),
        (true, false) => (NEW_DOMAIN_SENDER_WEAK, 2000),
        (false, true) => (NEW_DOMAIN_LINK_STRONG, 6000),
        (false, false) => (NEW_DOMAIN_LINK_WEAK, 2000),
    };
    if !ctx.fired(name) {
        let what = if sender { "sender" } else { "linked" };
        ctx.add(name, score, format!("{what} domain {domain} registered {date} ({age} days ago)"));
    }
    ctx.attribute(if sender { Attribute::NewDomainSender(date) } else { Attribute::NewDomainLink(date) });
}

/// `YYYY-MM-DD` -> days since 1970-01-01.
fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let (y, m, d): (i64, i64, i64) =
        (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(crate::spamassassin::dates::days_from_civil(y, m, d))
}

fn format_date(days: i64) -> String {
    let t = proto::Timestamp((days.max(0) as u64) * 86_400_000).to_rfc3339_seconds();
    t[..10].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_tables() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(format_date(parse_date("2026-11-15").unwrap()), "2026-11-15");
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
        let ages = DomainAges::parse("# registrations\nfresh.example,2026-11-20\nOld.Example.,2001-05-05\n").unwrap();
        assert_eq!(ages.registered("mail.fresh.example").map(|(_, d)| d), Some("fresh.example".to_owned()));
        assert!(ages.registered("old.example").is_some());
        assert!(DomainAges::parse("nodate.example\n").is_err());
    }
}
