//! BEC and lookalike domains, from the tenant's policy.
//!
//! - `bec_impersonation`: the From display name (or the address's local part) imitates an
//!   entry of the impersonation registry, also with lookalike spellings (`Jane D0e`,
//!   Cyrillic letters), and the mail does not come from that person's real address nor
//!   from the tenant's own domains. SUSPICIOUS, with the BEC attribute.
//! - `lookalike_domain`: the sender's, Reply-To's or a link's domain is not one of the
//!   tenant's own or trusted domains (or a registry address's) but looks like one: the same
//!   after folding homoglyphs and punycode, or one edit away. SUSPICIOUS. Trusted domains
//!   are never flagged.

use super::ScoreContext;
use super::domain::{domain_of, organizational_domain};
use proto::Attribute;

pub const BEC_IMPERSONATION: &str = "bec_impersonation";
pub const LOOKALIKE_DOMAIN: &str = "lookalike_domain";

pub fn check(ctx: &mut ScoreContext<'_>) {
    let Some(policy) = ctx.facts.policy.clone() else { return };
    let from = ctx.message.from().and_then(|a| a.first());
    let from_address = from.and_then(|a| a.address()).map(str::to_lowercase).unwrap_or_default();
    let from_domain = domain_of(&from_address);
    let display = from.and_then(|a| a.name()).unwrap_or("");

    // BEC.
    let from_own = from_domain.as_deref().is_some_and(|d| policy.is_own_domain(d));
    if !from_own && !from_address.is_empty() {
        for (i, entry) in policy.policy.impersonation.iter().enumerate() {
            let real = entry.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&from_address))
                || policy.registry_regexes.get(i).and_then(Option::as_ref).is_some_and(|r| r.is_match(&from_address));
            if real {
                continue;
            }
            let name = fold_name(&entry.name);
            let shown = fold_name(display);
            let by_name = !shown.is_empty()
                && (contains_words(&shown, &name) || (name.len() >= 6 && edit_distance(&shown, &name) <= 1));
            let by_address = entry.email.as_deref().and_then(|e| e.split_once('@')).is_some_and(|(local, _)| {
                let theirs = fold_name(&local.replace(['.', '_', '-'], " "));
                let ours = from_address
                    .split('@')
                    .next()
                    .map(|l| fold_name(&l.replace(['.', '_', '-'], " ")))
                    .unwrap_or_default();
                theirs.len() >= 4 && theirs == ours
            });
            if by_name || by_address {
                ctx.add(
                    BEC_IMPERSONATION,
                    8000,
                    format!(
                        "{} {:?} ({:?}) imitated by {} from outside the tenant's domains",
                        if by_name { "display name" } else { "address" },
                        entry.name,
                        entry.role,
                        if display.is_empty() {
                            from_address.clone()
                        } else {
                            format!("\"{display}\" <{from_address}>")
                        }
                    ),
                );
                ctx.attribute(Attribute::Bec);
                break;
            }
        }
    }

    // Lookalike domains.
    let mut protected: Vec<String> =
        policy.policy.own_domains.iter().chain(&policy.policy.trusted_domains).cloned().collect();
    protected.extend(policy.policy.impersonation.iter().filter_map(|e| e.email.as_deref()).filter_map(domain_of));
    if protected.is_empty() {
        return;
    }
    let mut candidates: Vec<(&str, String)> = Vec::new();
    if let Some(d) = from_domain {
        candidates.push(("sender", d));
    }
    if let Some(d) = ctx.message.reply_to().and_then(|a| a.first()).and_then(|a| a.address()).and_then(domain_of) {
        candidates.push(("Reply-To", d));
    }
    if let Some(d) = domain_of(&ctx.facts.envelope_sender) {
        candidates.push(("envelope sender", d));
    }
    candidates.extend(ctx.link_hosts().iter().map(|host| ("link", host.clone())));
    for (what, domain) in candidates {
        if policy.is_trusted_domain(&domain) || policy.is_own_domain(&domain) {
            continue;
        }
        let org = organizational_domain(&domain).to_owned();
        let unicode = idna::domain_to_unicode(&org).0;
        if let Some(target) = protected.iter().find(|p| looks_like(&unicode, organizational_domain(p))) {
            let shown = if unicode != org { format!("{org} ({unicode})") } else { org.clone() };
            ctx.add(LOOKALIKE_DOMAIN, 7000, format!("{what} domain {shown} looks like {target}"));
            return;
        }
    }
}

/// Folds letters that look alike onto one: Cyrillic and Greek look-alikes, digits used as
/// letters, `rn` for `m`, `vv` for `w`; lower case.
pub fn skeleton(s: &str) -> String {
    let mapped: String = s
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'а' | 'α' | '@' => 'a',
            'е' | 'ε' | '3' => 'e',
            'о' | 'ο' | '0' => 'o',
            'р' | 'ρ' => 'p',
            'с' | 'ϲ' => 'c',
            'у' | 'γ' => 'y',
            'х' | 'χ' => 'x',
            'і' | 'ı' | 'ί' => 'i',
            '1' | '!' | '|' | 'ӏ' => 'l',
            'ј' => 'j',
            'ѕ' | '5' | '$' => 's',
            'ԁ' => 'd',
            'ɡ' => 'g',
            'ν' => 'v',
            'κ' | 'к' => 'k',
            'т' | 'τ' => 't',
            'н' => 'h',
            'м' => 'm',
            'в' => 'b',
            c => c,
        })
        .collect();
    mapped.replace("rn", "m").replace("vv", "w")
}

/// A display name for matching: skeleton, only letters and digits, single spaces.
fn fold_name(s: &str) -> String {
    skeleton(s).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

fn contains_words(haystack: &str, needle: &str) -> bool {
    !needle.is_empty() && format!(" {haystack} ").contains(&format!(" {needle} "))
}

/// A domain that is not `protected` but would be taken for it.
pub fn looks_like(candidate: &str, protected: &str) -> bool {
    let (candidate, protected) = (candidate.to_lowercase(), protected.to_lowercase());
    if candidate == protected {
        return false;
    }
    if skeleton(&candidate) == skeleton(&protected) {
        return true;
    }
    // One edit away in the name left of the public suffix, same suffix, long enough names.
    let split = |d: &str| d.split_once('.').map(|(l, s)| (l.to_owned(), s.to_owned()));
    match (split(&candidate), split(&protected)) {
        (Some((cl, cs)), Some((pl, ps))) if cs == ps && pl.chars().count() >= 5 => {
            edit_distance(&skeleton(&cl), &skeleton(&pl)) <= 1
        }
        _ => false,
    }
}

/// Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes() {
        assert!(looks_like("paypa1.com", "paypal.com"));
        assert!(looks_like("rnicrosoft.com", "microsoft.com"));
        assert!(looks_like("corp-exarnple.com", "corp-example.com"));
        assert!(looks_like("cropexample.com", "corpexample.com"), "transposition");
        assert!(looks_like("corpexampel.com", "corpexample.com"));
        // Cyrillic а in "pаypal", as punycode decodes it.
        let decoded = idna::domain_to_unicode("xn--pypal-4ve.com").0;
        assert_eq!(decoded, "pаypal.com");
        assert!(looks_like(&decoded, "paypal.com"));
        assert!(!looks_like("paypal.com", "paypal.com"));
        assert!(!looks_like("example.org", "example.com"), "another suffix is another name");
        assert!(!looks_like("abc.com", "abd.com"), "short names are too close to call");
        assert!(!looks_like("totally-different.com", "corp-example.com"));
    }

    #[test]
    fn names_fold() {
        assert_eq!(fold_name("  Jane   D0e (CEO) "), "jane doe ceo");
        assert_eq!(fold_name("Јаnе Dое"), "jane doe", "Cyrillic letters");
        assert!(contains_words("jane doe ceo", "jane doe"));
        assert!(!contains_words("janet doe", "jane doe"));
        assert_eq!(edit_distance("jane doe", "jane dow"), 1);
    }
}
