//! SpamAssassin's published rules ([`crate::spamassassin`]), when a rule set is loaded:
//! each scored rule that hits is a detection named `sa:<RULE>` with the rule's score (set 0:
//! no Bayes, no network tests), its description and what it matched. They are evidence for
//! the learned combination ([`crate::combine`]), which weighs their sum; no single rule
//! decides a disposition.

use super::ScoreContext;
use crate::spamassassin;

/// The prefix of every rule hit's detection name.
pub const PREFIX: &str = "sa:";

pub fn check(ctx: &mut ScoreContext<'_>) {
    let Some(rules) = ctx.facts.spamassassin.clone() else { return };
    let hits = rules.run(ctx.view(), spamassassin::dates::date_diff(ctx.view()));
    for hit in hits {
        let matched = hit.matched.as_deref().map(|m| format!(" (matched {m:?})")).unwrap_or_default();
        ctx.add(
            &format!("{PREFIX}{}", hit.name),
            (hit.score * 1000.0).round() as i32,
            format!("SpamAssassin {} {:+.3}: {}{matched}", hit.name, hit.score, hit.describe),
        );
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
    }
}
