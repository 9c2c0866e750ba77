//! The same text as earlier mail of the tenant from other sender domains: a snowshoe
//! campaign ([`crate::campaign`]). A reply (In-Reply-To or References) is not judged, nor
//! mail from the tenant's own or trusted domains: a reply quotes, and an organisation's
//! own mail may share a text with what it answers. Evidence for the learned combination,
//! not a verdict of its own: a shop platform's order confirmation, sent from each shop's
//! own domain, shares its template's text too.

use super::ScoreContext;
use crate::campaign;

pub const SNOWSHOE_CAMPAIGN: &str = "snowshoe_campaign";

/// The message's fingerprint, when it has one to give (see [`campaign::fingerprint`]).
pub fn fingerprint_of(ctx: &ScoreContext<'_>) -> Option<campaign::Fingerprint> {
    let message = ctx.message;
    let is_reply = message.in_reply_to().as_text().is_some()
        || message.in_reply_to().as_text_list().is_some()
        || message.references().as_text().is_some()
        || message.references().as_text_list().is_some();
    if is_reply {
        return None;
    }
    let domain = ctx.from_domain()?;
    if ctx.own_or_trusted(&domain) {
        return None;
    }
    let sender = super::domain::organizational_domain(&domain).to_owned();
    let texts = ctx.body_texts();
    campaign::fingerprint(texts.iter().flatten().map(|t| t.as_ref()), &sender)
}

/// Without a campaign memory (`campaign_window = "0s"`) nothing is fingerprinted: the
/// fingerprint is only ever compared with and kept in one.
pub fn check(ctx: &mut ScoreContext<'_>) {
    let facts = ctx.facts;
    let Some(scope) = &facts.campaigns else { return };
    let Some(fingerprint) = fingerprint_of(ctx) else { return };
    let now_ms = scope.arrived_ms.unwrap_or_else(|| campaign::at_ms(facts.now));
    // Looked up, and in a scorer remembered in the same write (of two copies scored at
    // once, the second finds the first).
    if let Some(found) = scope.check(&fingerprint, now_ms) {
        let evidence = format!(
            "the same text ({} of {} fuzzy shingles) came from {} other sender domain{} before: {}{}",
            found.best_equal,
            campaign::SHINGLES,
            found.other_domains.len(),
            if found.other_domains.len() == 1 { "" } else { "s" },
            found.other_domains.join(", "),
            if found.earlier_messages > found.other_domains.len() {
                format!(" ({} earlier messages)", found.earlier_messages)
            } else {
                String::new()
            },
        );
        ctx.add(SNOWSHOE_CAMPAIGN, 0, evidence);
    }
    ctx.fingerprint = Some(fingerprint);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{CampaignMemory, CampaignScope};
    use std::sync::{Arc, RwLock};

    const OFFER: &str = "Protect the home before the next repair bill shows up. One major breakdown can cost \
hundreds or more. A comprehensive home warranty plan helps cover many of the systems and appliances your home \
depends on every day. Get my free quote and review plan options in just a few steps.";

    fn message(from: &str, extra: &str) -> String {
        format!(
            "From: K Johnson <k@{from}>\r\nTo: u@corp.example\r\nSubject: Every repair covered\r\n{extra}\r\n{OFFER}\r\n"
        )
    }

    fn scored(raw: &str, scope: &CampaignScope) -> (Vec<proto::Detection>, Option<campaign::Fingerprint>) {
        let message = crate::parse::parse_message(raw.as_bytes()).expect("parses");
        let facts = super::super::MessageFacts { campaigns: Some(scope.clone()), ..Default::default() };
        let mut ctx = ScoreContext::new(&message, &facts);
        check(&mut ctx);
        (ctx.detections, ctx.fingerprint)
    }

    #[test]
    fn a_second_sender_domain_with_the_same_text_is_a_campaign() {
        let scope = CampaignScope {
            tenant: "t".into(),
            memory: Arc::new(RwLock::new(CampaignMemory::new(std::time::Duration::from_secs(86_400), 100))),
            arrived_ms: Some(0),
            published_as: None,
        };
        let (first, fp) = scored(&message("mail.tabletlist.example", ""), &scope);
        assert!(first.is_empty());
        let fp = fp.expect("fingerprinted");
        assert_eq!(fp.sender_domain, "tabletlist.example");
        scope.observe(fp, 0);
        let (again, _) = scored(&message("tabletlist.example", ""), &scope);
        assert!(again.is_empty(), "the same domain again: {again:?}");
        let (other, _) = scored(&message("weddingflare.example", ""), &scope);
        assert_eq!(other.len(), 1, "{other:?}");
        assert_eq!(
            other[0].evidence,
            "the same text (32 of 32 fuzzy shingles) came from 1 other sender domain before: tabletlist.example"
        );
        // A reply is not judged.
        let (reply, fp) = scored(&message("weddingflare.example", "In-Reply-To: <a@b.example>\r\n"), &scope);
        assert!(reply.is_empty() && fp.is_none());
        // Without a memory (campaign_window "0s") nothing is fingerprinted.
        let raw = message("weddingflare.example", "");
        let parsed = crate::parse::parse_message(raw.as_bytes()).expect("parses");
        let facts = super::super::MessageFacts::default();
        let mut ctx = ScoreContext::new(&parsed, &facts);
        check(&mut ctx);
        assert!(ctx.detections.is_empty() && ctx.fingerprint.is_none());
    }
}
