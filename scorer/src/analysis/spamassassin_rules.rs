//! SpamAssassin's published rules ([`crate::spamassassin`]), when a rule set is loaded:
//! each scored rule that hits is a detection named `sa:<RULE>` with the rule's score (set 0:
//! no Bayes, no network tests), its description and what it matched. They are evidence for
//! the learned combination ([`crate::combine`]), which weighs their sum. One kind of rule
//! decides alone, as it does in SpamAssassin: a rule scored [`DECISIVE_SCORE`] or more
//! (GTUBE, the test string that every spam filter answers as spam; a block-list entry).

use super::ScoreContext;
use crate::spamassassin;

/// The prefix of every rule hit's detection name.
pub const PREFIX: &str = "sa:";

/// A rule that SpamAssassin scores this high or higher decides on its own (GTUBE is 1000,
/// `USER_IN_BLOCKLIST` 100; no content rule comes near: the highest is under 10).
pub const DECISIVE_SCORE: f64 = 100.0;
/// A verdict (SPAM): a rule hit scored [`DECISIVE_SCORE`] or more. An operator who sends
/// GTUBE through the pipeline to test it sees SPAM, whatever the combination weighs.
pub const SPAMASSASSIN_DECISIVE: &str = "spamassassin_decisive";

/// Not a verdict: SpamAssassin's autolearning would learn this message as spam (its points,
/// without the rules flagged `noautolearn`, reach `bayes_auto_learn_threshold_spam` with 3
/// from header rules and 3 from body rules). The scorer then teaches it to the tenant's
/// classifier when the verdict agrees ([`crate::autolearn`]).
pub const SPAMASSASSIN_AUTOLEARN: &str = "spamassassin_autolearn";

pub fn check(ctx: &mut ScoreContext<'_>) {
    let Some(rules) = ctx.facts.spamassassin.clone() else { return };
    let hits = rules.run(ctx.view(), spamassassin::dates::date_diff(ctx.view()));
    if let Some(points) = rules.autolearns_as_spam(&hits) {
        ctx.add(
            SPAMASSASSIN_AUTOLEARN,
            0,
            format!(
                "SpamAssassin would autolearn it as spam: {:.1} points ({:.1} from header rules, {:.1} from body rules)",
                points.total, points.head, points.body
            ),
        );
    }
    let decisive: Vec<String> =
        hits.iter().filter(|h| h.score >= DECISIVE_SCORE).map(|h| format!("{} {:+.0}", h.name, h.score)).collect();
    for hit in hits {
        let matched = hit.matched.as_deref().map(|m| format!(" (matched {m:?})")).unwrap_or_default();
        ctx.add(
            &format!("{PREFIX}{}", hit.name),
            (hit.score * 1000.0).round() as i32,
            format!("SpamAssassin {} {:+.3}: {}{matched}", hit.name, hit.score, hit.describe),
        );
    }
    if !decisive.is_empty() {
        ctx.add(SPAMASSASSIN_DECISIVE, 0, format!("a SpamAssassin rule that decides alone: {}", decisive.join(", ")));
    }
}

/// The sum of the SpamAssassin scores among `detections`.
pub fn total_score(detections: &[proto::Detection]) -> f64 {
    detections.iter().filter(|d| d.name.starts_with(PREFIX)).map(|d| f64::from(d.score_milli) / 1000.0).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::MessageFacts;
    use crate::spamassassin::{RuleSet, cf};
    use std::sync::Arc;

    #[test]
    fn rule_hits_become_detections_with_evidence() {
        let files = cf::read_files([(
            "t.cf",
            b"body LOTTERY /you (?:have )?won/i\ndescribe LOTTERY Claims you won\nscore LOTTERY 2.5\n".as_slice(),
        )]);
        let facts = MessageFacts { spamassassin: Some(Arc::new(RuleSet::compile(&files))), ..Default::default() };
        let m = mail_parser::MessageParser::default()
            .parse(b"Subject: hi\r\n\r\nYou have WON a prize\r\n".as_slice())
            .unwrap();
        let mut ctx = ScoreContext::new(&m, &facts);
        check(&mut ctx);
        assert_eq!(ctx.detections.len(), 1);
        let d = &ctx.detections[0];
        assert_eq!(d.name, "sa:LOTTERY");
        assert_eq!(d.score_milli, 2500);
        assert!(d.evidence.contains("Claims you won") && d.evidence.contains("You have WON"), "{}", d.evidence);
        assert_eq!(total_score(&ctx.detections), 2.5);
        assert!(!ctx.detections.iter().any(|d| d.name == SPAMASSASSIN_DECISIVE), "2.5 decides nothing");
    }

    #[test]
    fn a_rule_without_a_description_says_so() {
        let files = cf::read_files([("t.cf", b"body PRIZE /a prize/i\nscore PRIZE 1.5\n".as_slice())]);
        let facts = MessageFacts { spamassassin: Some(Arc::new(RuleSet::compile(&files))), ..Default::default() };
        let m =
            mail_parser::MessageParser::default().parse(b"Subject: hi\r\n\r\nYou won a prize\r\n".as_slice()).unwrap();
        let mut ctx = ScoreContext::new(&m, &facts);
        check(&mut ctx);
        let evidence = &ctx.detections[0].evidence;
        assert!(evidence.starts_with("SpamAssassin PRIZE +1.500: no description in the rule files"), "{evidence}");
    }

    #[test]
    fn the_configured_trusted_relays_reach_the_relay_rules() {
        // SpamAssassin's RDNS_NONE reads the first external relay's rDNS (20_head_tests.cf).
        let files = cf::read_files([(
            "t.cf",
            b"header RDNS_NONE X-Spam-Relays-Untrusted =~ /^[^\\]]+ rdns= /\nscore RDNS_NONE 1.3\n".as_slice(),
        )]);
        let rules = Some(Arc::new(RuleSet::compile(&files)));
        // The provider's own hop has no rDNS recorded; the sender's has.
        let m = mail_parser::MessageParser::default()
            .parse(
                b"Received: from mx.provider.example ([192.0.2.10]) by store.provider.example with ESMTPS id P1;\r\n \
                  Mon, 1 Dec 2025 10:00:01 +0000\r\n\
                  Received: from mail.sender.example (mail.sender.example [198.51.100.7]) by mx.provider.example\r\n \
                  with ESMTPS id S1; Mon, 1 Dec 2025 10:00:00 +0000\r\nSubject: hi\r\n\r\nhello\r\n"
                    .as_slice(),
            )
            .unwrap();
        let hits = |trusted: &[&str]| {
            let facts = MessageFacts {
                spamassassin: rules.clone(),
                trusted_relays: Arc::new(trusted.iter().map(|n| n.parse().unwrap()).collect()),
                ..Default::default()
            };
            let mut ctx = ScoreContext::new(&m, &facts);
            check(&mut ctx);
            ctx.detections.into_iter().map(|d| d.name).collect::<Vec<_>>()
        };
        assert_eq!(hits(&[]), ["sa:RDNS_NONE"], "unconfigured, the provider's hop is judged");
        assert!(hits(&["192.0.2.0/24"]).is_empty(), "configured, the sender's is");
    }

    #[test]
    fn gtube_decides_alone_and_the_verdict_is_spam() {
        // SpamAssassin's own GTUBE rule and score, as 20_body_tests.cf and 50_scores.cf have them.
        let files = cf::read_files([(
            "t.cf",
            b"body GTUBE /XJS\\*C4JDBQADN1\\.NSBN3\\*2IDNEN\\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\\*C\\.34X/\n\
describe GTUBE Generic Test for Unsolicited Bulk Email\nscore GTUBE 1000.000\n"
                .as_slice(),
        )]);
        let facts = MessageFacts { spamassassin: Some(Arc::new(RuleSet::compile(&files))), ..Default::default() };
        let m = mail_parser::MessageParser::default()
            .parse(
                b"Subject: test\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"
                    .as_slice(),
            )
            .unwrap();
        let mut ctx = ScoreContext::new(&m, &facts);
        check(&mut ctx);
        let d = ctx.detections.iter().find(|d| d.name == SPAMASSASSIN_DECISIVE).expect("GTUBE decides");
        assert!(d.evidence.contains("GTUBE +1000"), "{}", d.evidence);
        assert_eq!(crate::verdict::decide(&ctx.detections), proto::Disposition::Spam);
    }
}
