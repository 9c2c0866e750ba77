//! Senders and links on top-level domains where registrations are cheap and abuse is common
//! (the table `scorer/data/abused_tlds.tsv`, from SpamAssassin's, Spamhaus's and
//! Interisle's public lists). Two pieces of evidence for the learned combination, never a
//! verdict alone: `sender_abused_tld` (the From, Reply-To or envelope sender's domain) and
//! `link_abused_tld` (a link host).

use super::ScoreContext;
use super::domain::domain_of;
use std::collections::BTreeSet;
use std::sync::LazyLock;

pub const SENDER_ABUSED_TLD: &str = "sender_abused_tld";
pub const LINK_ABUSED_TLD: &str = "link_abused_tld";

/// The shipped table's TLDs, lower case, without the dot.
pub static ABUSED_TLDS: LazyLock<BTreeSet<String>> =
    LazyLock::new(|| parse_table(include_str!("../../data/abused_tlds.tsv")));

pub fn parse_table(text: &str) -> BTreeSet<String> {
    super::table::rows(text)
        .filter_map(|cols| cols.first().map(|t| t.trim_start_matches('.').to_ascii_lowercase()))
        .filter(|t| !t.is_empty())
        .collect()
}

/// The TLD of a host when it is in the table.
pub fn abused_tld(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.');
    let (_, tld) = host.rsplit_once('.')?;
    ABUSED_TLDS.get(tld.to_ascii_lowercase().as_str()).map(String::as_str)
}

pub fn check(ctx: &mut ScoreContext<'_>) {
    let message = ctx.message;
    let mut senders: Vec<(&str, String)> = Vec::new();
    if let Some(address) = message.from().and_then(|a| a.first()).and_then(|a| a.address()) {
        senders.push(("From", address.to_owned()));
    }
    if let Some(address) = message.reply_to().and_then(|a| a.first()).and_then(|a| a.address()) {
        senders.push(("Reply-To", address.to_owned()));
    }
    if !ctx.facts.envelope_sender.is_empty() {
        senders.push(("envelope sender", ctx.facts.envelope_sender.clone()));
    }
    let sender_hits: Vec<String> = senders
        .iter()
        .filter_map(|(role, address)| {
            let domain = domain_of(address)?;
            abused_tld(&domain).map(|tld| format!("{role} {domain} (.{tld})"))
        })
        .collect();
    if !sender_hits.is_empty() {
        ctx.add(
            SENDER_ABUSED_TLD,
            0,
            format!("sender on an often abused top-level domain: {}", sender_hits.join(", ")),
        );
    }
    let link_hits: Vec<String> =
        ctx.link_hosts().iter().filter_map(|h| abused_tld(h).map(|tld| format!("{h} (.{tld})"))).take(5).collect();
    if !link_hits.is_empty() {
        ctx.add(LINK_ABUSED_TLD, 0, format!("links to often abused top-level domains: {}", link_hits.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> Vec<proto::Detection> {
        crate::analysis::table::detections_of(raw, check)
    }

    #[test]
    fn the_table_reads_and_matches_the_last_label_only() {
        assert!(ABUSED_TLDS.len() > 40, "{}", ABUSED_TLDS.len());
        assert_eq!(abused_tld("mail.countrystaff.autos"), Some("autos"));
        assert_eq!(abused_tld("PROMO.Example.TOP."), Some("top"));
        assert_eq!(abused_tld("shop.example.com"), None, "a label that is a TLD elsewhere in the name");
        assert_eq!(abused_tld("example.com"), None);
        assert_eq!(abused_tld("localhost"), None);
        assert_eq!(parse_table("# c\n.xyz\tSpamhaus\nTOP\n"), ["top".to_owned(), "xyz".to_owned()].into());
    }

    #[test]
    fn senders_and_links_on_abused_tlds_are_evidence() {
        let d = run(
            "From: \"Tactical Survival\" <deals@countrystaff.autos>\r\nSubject: hi\r\n\r\nsee https://www.example.com/ now\r\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, SENDER_ABUSED_TLD);
        assert!(d[0].evidence.contains("From countrystaff.autos (.autos)"), "{d:?}");
        let d = run(
            "From: it@corp.example\r\nReply-To: help@desk.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://login.secure-portal.cfd/x\">Sign in</a>\r\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].name, LINK_ABUSED_TLD);
        assert!(d[0].evidence.contains("login.secure-portal.cfd (.cfd)"), "{d:?}");
        let d = run("From: a@corp.example\r\nReply-To: pay@claims.xyz\r\n\r\nreply to me\r\n");
        assert!(d.iter().any(|d| d.name == SENDER_ABUSED_TLD && d.evidence.contains("Reply-To claims.xyz")), "{d:?}");
        assert!(run("From: a@example.com\r\n\r\nsee https://shop.example.com/\r\n").is_empty());
    }
}
